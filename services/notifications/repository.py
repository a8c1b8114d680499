"""Every SQL statement of the notifications service."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.pagination import after_keyset
from services.notifications.models import (
    CHANGES,
    Curseur,
    Envoi,
    EvenementTraite,
    Notification,
    StatutEnvoi,
)

_NEXT_SEQ = CHANGES.next_value()

# --- following the feeds -------------------------------------------------------------------


async def cursor(session: AsyncSession, source: str) -> int:
    value = await session.scalar(select(Curseur.apres).where(Curseur.source == source))
    return int(value or 0)


async def set_cursor(session: AsyncSession, source: str, seq: int) -> None:
    stmt = insert(Curseur).values(source=source, apres=seq)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Curseur.source],
            set_={"apres": func.greatest(Curseur.apres, stmt.excluded.apres)},
        )
    )


async def claim(session: AsyncSession, source: str, evenement_id: uuid.UUID) -> bool:
    """Mark the event acted on; False if it already was (a feed read twice)."""
    result = await session.execute(
        insert(EvenementTraite)
        .values(source=source, evenement_id=evenement_id)
        .on_conflict_do_nothing()
        .returning(EvenementTraite.evenement_id)
    )
    return result.first() is not None


async def add(session: AsyncSession, *objects: object) -> None:
    session.add_all(objects)
    await session.flush()


# --- in-app notifications --------------------------------------------------------------------


async def page(
    session: AsyncSession, personne_id: uuid.UUID, limit: int, cursor: str | None
) -> Sequence[Notification]:
    """A person's notifications, newest first (keyset on (cree_le, id))."""
    stmt = select(Notification).where(Notification.personne_id == personne_id)
    after = after_keyset([Notification.cree_le, Notification.id], cursor, descending=True)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(Notification.cree_le.desc(), Notification.id.desc()).limit(limit + 1)
    return (await session.scalars(stmt)).all()


async def changed_since(
    session: AsyncSession, personne_id: uuid.UUID, seq: int, limit: int
) -> Sequence[Notification]:
    """A person's notifications created or changed (read) after `seq`, in `seq` order:
    numbers become visible in commit order (migration 0001), so none is skipped."""
    stmt = (
        select(Notification)
        .where(Notification.personne_id == personne_id, Notification.seq > seq)
        .order_by(Notification.seq)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def last_seq(session: AsyncSession, personne_id: uuid.UUID) -> int:
    value = await session.scalar(
        select(func.max(Notification.seq)).where(Notification.personne_id == personne_id)
    )
    return int(value or 0)


async def unread_count(session: AsyncSession, personne_id: uuid.UUID) -> int:
    value = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.personne_id == personne_id, Notification.lue_le.is_(None))
    )
    return int(value or 0)


async def mark_read(
    session: AsyncSession, personne_id: uuid.UUID, notification_id: uuid.UUID | None
) -> list[Notification]:
    """Mark one (or every) unread notification of the person read; those changed."""
    stmt = (
        update(Notification)
        .where(Notification.personne_id == personne_id, Notification.lue_le.is_(None))
        .values(lue_le=func.now(), seq=_NEXT_SEQ)
        .returning(Notification)
        .execution_options(synchronize_session=False)
    )
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return list((await session.scalars(stmt)).all())


async def notification_of(
    session: AsyncSession, personne_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification | None:
    return await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.personne_id == personne_id
        )
    )


# --- e-mails ----------------------------------------------------------------------------------


async def next_due(session: AsyncSession, now: dt.datetime) -> Envoi | None:
    """The next message waiting and due, locked (another sender skips it)."""
    return await session.scalar(
        select(Envoi)
        .where(Envoi.statut == StatutEnvoi.en_attente.value, Envoi.prochain_essai <= now)
        .order_by(Envoi.prochain_essai, Envoi.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def delivery_log(
    session: AsyncSession,
    cafs: Sequence[uuid.UUID],
    limit: int,
    cursor: str | None,
    statut: str | None,
) -> Sequence[Envoi]:
    """The log's lines about the Cafs' people, newest first."""
    stmt = select(Envoi).where(Envoi.caf_ids.overlap(list(cafs)))
    if statut is not None:
        stmt = stmt.where(Envoi.statut == statut)
    after = after_keyset([Envoi.cree_le, Envoi.id], cursor, descending=True)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(Envoi.cree_le.desc(), Envoi.id.desc()).limit(limit + 1)
    return (await session.scalars(stmt)).all()
