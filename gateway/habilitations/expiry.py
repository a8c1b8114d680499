"""Grants about to end: each one's notice at J-30 and at J-7, once per end date.

The job `gateway.grant-expiry-notices` (jobs.py) records a `habilitation.expire_bientot`
event for each active grant that ends within 30 days of `settings.now()` (J-30, or J-7
within 7 days), in the transaction that records its key (`avis_expiration`: grant, end
date, step), so a notice is recorded once whatever the runs and replicas. A grant
renewed before J-7 has a new end date: the old date's J-7 is never due, the new date
gets its own notices. The event names the holder and who may renew the grant
(`service.managers_of`, the rule the renewal itself applies); the notifications service
resolves them when it acts on it (someone revoked meanwhile hears nothing).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.habilitations import repository as repo
from gateway.habilitations.events import OUTBOX, cafs_of
from gateway.habilitations.service import managers_of
from kernel.principal import OrganisationKind, Role

EXPIRE_BIENTOT = "habilitation.expire_bientot"
FIRST_NOTICE = dt.timedelta(days=30)
LAST_NOTICE = dt.timedelta(days=7)
# Notices per run (the next run takes the rest).
BATCH = 500


async def announce(session: AsyncSession, now: dt.datetime) -> int:
    """Record the notices due at `now` (the caller commits); how many."""
    recorded = 0
    for grant_id, valid_until, etape in await repo.expiring_unannounced(
        session, now, FIRST_NOTICE, LAST_NOTICE, BATCH
    ):
        if not await repo.add_notice(session, grant_id, valid_until, etape, now):
            continue
        row = await repo.grant_row(session, grant_id)
        assert row is not None
        grant = row.grant
        kind = OrganisationKind(grant.organisation_kind)
        cafs = await cafs_of(session, grant.organisation_id, kind)
        managers: list[JsonValue] = [
            {
                "organisation_id": str(org),
                "organisation_type": held_kind.value,
                "roles": [r.value for r in sorted(roles)],
            }
            for org, held_kind, roles in managers_of(
                grant.organisation_id,
                kind,
                Role(grant.role),
                [uuid.UUID(str(c)) for c in cafs],
            )
        ]
        await OUTBOX.record(
            session,
            EXPIRE_BIENTOT,
            {
                "habilitation_id": str(grant.id),
                "etape": etape,
                "fin": valid_until.isoformat(),
                "personne_id": None if grant.person_id is None else str(grant.person_id),
                "titulaire_nom": row.person_name or row.client_nom,
                "organisation_id": str(grant.organisation_id),
                "organisation_type": kind.value,
                "organisation_nom": row.organisation_name,
                "role": grant.role,
                "gestionnaires": managers,
                "caf_ids": cafs,
            },
        )
        recorded += 1
    return recorded


async def announce_expiring(
    sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime
) -> int:
    async with sessionmaker() as session:
        count = await announce(session, now)
        await session.commit()
    return count
