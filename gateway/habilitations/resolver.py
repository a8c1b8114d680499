"""From a verified caller identity to the kernel `Principal` with its current grants.

One SQL statement per cache miss: for a person, an upsert of the person row (first
time seen, last seen, e-mail and name from the token) joined to their grants; for a
machine client, its registration joined to its grants. Only grants that are `active`
and inside their validity period count.

The principal also carries who the caller is to a reader of a history: the name the
person's token gave (else the one last recorded), a machine client's registered name,
and the client they came through (a person through the mobile app or a partner's
system): cached per caller *and client*, so each gets its own principal.

Caching: per caller, in memory, for `ttl_seconds` at most and never past the next
validity boundary of one of the caller's grants. A grant change made by this
process invalidates the holder's entry at once (and again after the commit, so a
request racing the transaction cannot keep the old grants). Changes made elsewhere
(another gateway instance, the CLI) reach `invalidate` through PostgreSQL
LISTEN/NOTIFY (`notify.py`); the TTL is the last resort.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.habilitations import repository
from gateway.identity import CallerIdentity
from kernel.errors import Forbidden
from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role

_MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class _Entry:
    principal: Principal | None  # None: an unregistered machine client
    holder_id: uuid.UUID | None
    expires_at: float


class DbGrantResolver:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ttl_seconds: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str, str, str | None], _Entry] = {}
        # Bumped by every invalidation: a load that started before it is not cached.
        self._generation = 0
        # Observability (and tests): how many database round trips were made.
        self.loads = 0

    # -- invalidation ----------------------------------------------------------------

    def invalidate(self, holder_id: uuid.UUID | None = None) -> None:
        """Forget one holder's grants (person or client local id), or everyone's."""
        self._generation += 1
        if holder_id is None:
            self._cache.clear()
            return
        for key in [k for k, e in self._cache.items() if e.holder_id == holder_id]:
            del self._cache[key]

    def invalidate_after_commit(self, session: AsyncSession, holder_id: uuid.UUID | None) -> None:
        """Invalidate now and once more when `session` commits the change (None: all)."""
        self.invalidate(holder_id)
        event.listen(
            session.sync_session, "after_commit", lambda _s: self.invalidate(holder_id), once=True
        )

    # -- resolution --------------------------------------------------------------------

    async def principal_for(self, identity: CallerIdentity) -> Principal:
        key = (identity.kind.value, identity.issuer, identity.subject, identity.client)
        entry = self._cache.get(key)
        if entry is None or entry.expires_at <= self._clock():
            generation = self._generation
            entry = await self._load(identity)
            if self.ttl_seconds > 0 and generation == self._generation:
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
                self._cache[key] = entry
        if entry.principal is None:
            raise Forbidden("Ce client n'est pas enregistré auprès de Coopération.")
        return entry.principal

    async def _load(self, identity: CallerIdentity) -> _Entry:
        self.loads += 1
        async with self._sessionmaker() as session:
            if identity.kind is PrincipalKind.client:
                rows = await repository.client_grant_rows(session, identity.subject)
            else:
                rows = await repository.upsert_person_grant_rows(
                    session,
                    identity.issuer,
                    identity.subject,
                    identity.email,
                    identity.name,
                    email_verified=identity.email_verified,
                )
                await session.commit()
        if not rows:
            return _Entry(None, None, self._clock() + self.ttl_seconds)
        holder_id: uuid.UUID = rows[0].id
        name: str | None = rows[0].name
        db_now: dt.datetime = rows[0].db_now
        grants: list[Grant] = []
        next_boundary: dt.datetime | None = None
        for row in rows:
            if row.organisation_id is None:
                continue
            if row.valid_from > db_now:  # granted for later: counts from valid_from
                boundary = row.valid_from
            else:
                boundary = row.valid_until
                grants.append(
                    Grant(
                        organisation_id=row.organisation_id,
                        organisation_kind=OrganisationKind(row.organisation_kind),
                        role=Role(row.role),
                    )
                )
            next_boundary = boundary if next_boundary is None else min(next_boundary, boundary)
        lifetime = self.ttl_seconds
        if next_boundary is not None:
            lifetime = min(lifetime, max(0.0, (next_boundary - db_now).total_seconds()))
        grants.sort(key=lambda gr: (str(gr.organisation_id), gr.role.value))
        principal = Principal(
            subject=str(holder_id),
            kind=PrincipalKind.client
            if identity.kind is PrincipalKind.client
            else PrincipalKind.person,
            grants=tuple(grants),
            name=name,
            client=identity.client,
        )
        return _Entry(principal, holder_id, self._clock() + lifetime)
