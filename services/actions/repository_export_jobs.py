"""Every SQL statement on the large exports (`exports`) and their files (`export_morceaux`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.pagination import after_keyset
from services.actions.models import Export, ExportMorceau
from services.actions.schemas_exports import EtatExport

_PENDING = (EtatExport.en_attente.value, EtatExport.en_cours.value)
PAGE_KEY = (Export.created_at, Export.id)


async def lock_requester(session: AsyncSession, demandeur_id: str) -> None:
    """Two requests of one person at once count each other's exports (until commit)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('actions.exports:' || :who))"),
        {"who": demandeur_id},
    )


async def count_pending(session: AsyncSession, demandeur_id: str, now: dt.datetime) -> int:
    stmt = select(func.count()).where(
        Export.demandeur_id == demandeur_id,
        Export.etat.in_(_PENDING),
        Export.expire_le > now,
    )
    return int((await session.execute(stmt)).scalar_one())


async def own(
    session: AsyncSession, export_id: uuid.UUID, demandeur_id: str, now: dt.datetime
) -> Export | None:
    """The requester's own export, not expired."""
    stmt = select(Export).where(
        Export.id == export_id, Export.demandeur_id == demandeur_id, Export.expire_le > now
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def own_page(
    session: AsyncSession, demandeur_id: str, now: dt.datetime, limit: int, cursor: str | None
) -> Sequence[Export]:
    """`limit + 1` of the requester's exports not expired, newest first."""
    stmt = (
        select(Export)
        .where(Export.demandeur_id == demandeur_id, Export.expire_le > now)
        .order_by(Export.created_at.desc(), Export.id.desc())
        .limit(limit + 1)
    )
    resume = after_keyset(PAGE_KEY, cursor, descending=True)
    if resume is not None:
        stmt = stmt.where(resume)
    return (await session.execute(stmt)).scalars().all()


async def claim(session: AsyncSession, now: dt.datetime, lease: dt.timedelta) -> Export | None:
    """The oldest export waiting, or whose run began more than `lease` ago and is still
    running (its worker died: a run writes its file in one transaction, so nothing of it
    stayed), marked `en cours` with one more attempt. SKIP LOCKED: two runners never
    take the same one."""
    waiting = (
        select(Export.id)
        .where(
            or_(
                Export.etat == EtatExport.en_attente.value,
                (Export.etat == EtatExport.en_cours.value) & (Export.debut_le < now - lease),
            ),
            Export.expire_le > now,
        )
        .order_by(Export.created_at, Export.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Export)
        .where(Export.id == waiting)
        .values(etat=EtatExport.en_cours.value, debut_le=now, tentatives=Export.tentatives + 1)
        .returning(Export)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_file(session: AsyncSession, export_id: uuid.UUID) -> None:
    await session.execute(delete(ExportMorceau).where(ExportMorceau.export_id == export_id))


async def add_piece(session: AsyncSession, export_id: uuid.UUID, numero: int, data: bytes) -> None:
    await session.execute(
        insert(ExportMorceau).values(export_id=export_id, numero=numero, donnees=data)
    )


async def finish(
    session: AsyncSession,
    export_id: uuid.UUID,
    etat: EtatExport,
    now: dt.datetime,
    expire_le: dt.datetime,
    *,
    taille: int | None = None,
    message: str | None = None,
) -> None:
    await session.execute(
        update(Export)
        .where(Export.id == export_id)
        .values(etat=etat.value, fini_le=now, expire_le=expire_le, taille=taille, message=message)
    )


async def piece_after(
    session: AsyncSession, export_id: uuid.UUID, numero: int
) -> tuple[int, bytes] | None:
    """The file's next piece after `numero` (keyset on the piece's number)."""
    stmt = (
        select(ExportMorceau.numero, ExportMorceau.donnees)
        .where(ExportMorceau.export_id == export_id, ExportMorceau.numero > numero)
        .order_by(ExportMorceau.numero)
        .limit(1)
    )
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0], found[1])
