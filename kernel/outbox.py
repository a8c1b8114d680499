"""Each service's domain events, recorded with the change and served to the suite.

A service records what happened (`Outbox.record`: a suivi submitted, an invitation
created...) in its own schema's ``evenements`` table, in the request's transaction, so
an event exists if and only if its change was committed. Other apps follow the feed
``GET /internal/v1/evenements?after=<seq>&limit=<n>`` (service tokens,
`outbox_router`) with `OutboxClient`, the way the replicas follow the conventions'
feed (kernel.convention_ref): the notifications service reads it at least once and
acts at most once per (source, event id).

Order: ``seq`` is numbered in commit order (kernel.commit_order: the outbox's lock held
until commit, its serial drawn after), so a reader that has seen ``seq`` N will never
later see a smaller one appear: the feed's cursor skips nothing. The lock is taken by
`record`, which a service calls once, last, just before its transaction commits
(writers of events queue only for their commit).

Payloads hold what a message needs (titles, ids, a comment), never more: the
recipients are resolved when the message is sent (kernel.people_ref).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, JsonValue
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.commit_order import CommitOrder
from kernel.database import DbSession
from kernel.internal_token import CallingService, InternalTokenSigner, read_internal

OUTBOX_TABLE = "evenements"
EVENTS_PATH = "/internal/v1/evenements"
MAX_EVENTS_PER_PAGE = 500


def outbox_table(metadata: MetaData) -> Table:
    """The app's events, in its own schema (`metadata`'s)."""
    return Table(
        OUTBOX_TABLE,
        metadata,
        # Allocated under the outbox lock (`Outbox.record`): commit order.
        Column("seq", BigInteger, primary_key=True, autoincrement=True),
        # Drawn by PostgreSQL: a statement replayed (the bench's baseline) makes a new one.
        Column("id", Uuid, nullable=False, unique=True, server_default=text("gen_random_uuid()")),
        # "suivi.soumis", "invitation.creee"...: what the followers dispatch on.
        Column("type", String(60), nullable=False),
        Column("le", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Null for events of no convention (invitations, access requests).
        Column("convention_id", Uuid),
        Column("auteur_id", String(200)),
        Column("donnees", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Index(None, "le"),
    )


class Evenement(BaseModel):
    """Un événement du domaine, tel qu'un service le publie aux autres."""

    seq: int = Field(description="Numéro d'ordre dans le flux du service.")
    id: uuid.UUID = Field(description="Identifiant unique de l'événement.")
    type: str = Field(description="Nature de l'événement (`suivi.soumis`…).")
    le: dt.datetime = Field(description="Moment de l'événement (validation de la transaction).")
    convention_id: uuid.UUID | None = Field(description="Convention concernée, le cas échéant.")
    auteur_id: str | None = Field(description="Qui a agi (identifiant dans la suite).")
    donnees: dict[str, JsonValue] = Field(description="Ce que l'événement dit de l'objet.")


class Evenements(BaseModel):
    """Une page du flux d'événements d'un service, dans l'ordre de `seq`."""

    items: list[Evenement]


class Outbox:
    """An app's outbox: one per app, built on its `outbox_table`."""

    def __init__(self, table: Table, lock_name: str) -> None:
        self.table = table
        self._order = CommitOrder(lock_name)

    async def record(
        self,
        session: AsyncSession,
        type_: str,
        donnees: dict[str, JsonValue],
        *,
        convention_id: uuid.UUID | None = None,
        auteur_id: str | None = None,
    ) -> uuid.UUID:
        """Record an event in the session's transaction (call it last: the outbox lock
        is held from here until the commit). Its id."""
        await self._order.hold(session)
        inserted = await session.execute(
            insert(self.table)
            .values(type=type_, convention_id=convention_id, auteur_id=auteur_id, donnees=donnees)
            .returning(self.table.c.id)
        )
        event_id: uuid.UUID = inserted.scalar_one()
        return event_id

    async def after(self, session: AsyncSession, after: int, limit: int) -> list[Evenement]:
        t = self.table.c
        rows = await session.execute(
            select(t.seq, t.id, t.type, t.le, t.convention_id, t.auteur_id, t.donnees)
            .where(t.seq > after)
            .order_by(t.seq)
            .limit(limit)
        )
        return [Evenement.model_validate(r._asdict()) for r in rows]


def outbox_router(outbox: Outbox) -> APIRouter:
    """The app's `GET /internal/v1/evenements` (service tokens only)."""
    router = APIRouter(prefix="/internal/v1", tags=["interne"])

    @router.get("/evenements")
    async def evenements(
        session: DbSession,
        _service: CallingService,
        after: Annotated[int, Query(ge=0, description="Le dernier `seq` déjà lu.")] = 0,
        limit: Annotated[
            int, Query(ge=1, le=MAX_EVENTS_PER_PAGE, description="Taille de la page.")
        ] = 100,
    ) -> Evenements:
        """The app's events after `after`, in `seq` order."""
        return Evenements(items=await outbox.after(session, after, limit))

    return router


class OutboxClient:
    """Reads one app's event feed on behalf of another (the notifications service)."""

    def __init__(
        self, http: httpx.AsyncClient, signer: InternalTokenSigner, source: str, base_url: str
    ) -> None:
        self._http = http
        self._signer = signer
        self.source = source
        self._base = base_url.rstrip("/")

    async def after(self, after: int, limit: int = 100) -> list[Evenement]:
        resp = await read_internal(
            self._http,
            self._base + EVENTS_PATH,
            self._signer,
            self.source,
            {"after": after, "limit": limit},
            service=f"Flux d'événements de « {self.source} »",
            consequence="les notifications attendront.",
        )
        return Evenements.model_validate_json(resp.content).items
