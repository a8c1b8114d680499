"""Every SQL statement of the preferences and of the digests (see preferences.py and
digests.py): the modes chosen, the items held for a digest, the digests' lines."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.models import ElementRecapitulatif, Envoi, ModeEnvoi, Preference


async def chosen_modes(
    session: AsyncSession, personne_ids: Sequence[uuid.UUID], famille: str | None = None
) -> list[tuple[uuid.UUID, str, str]]:
    """(person, family, mode) of the modes the persons chose (of one family, if given)."""
    stmt = select(Preference.personne_id, Preference.famille, Preference.mode).where(
        Preference.personne_id.in_(personne_ids)
    )
    if famille is not None:
        stmt = stmt.where(Preference.famille == famille)
    return [(p, f, m) for p, f, m in (await session.execute(stmt)).all()]


async def set_modes(
    session: AsyncSession, personne_id: uuid.UUID, modes: Mapping[str, str | None]
) -> None:
    """Each family to its mode; None: back to the family's default (the row goes)."""
    back = [f for f, m in modes.items() if m is None]
    if back:
        await session.execute(
            delete(Preference).where(
                Preference.personne_id == personne_id, Preference.famille.in_(back)
            )
        )
    chosen = [{"personne_id": personne_id, "famille": f, "mode": m} for f, m in modes.items() if m]
    if chosen:
        stmt = insert(Preference).values(chosen)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Preference.personne_id, Preference.famille],
                set_={"mode": stmt.excluded.mode, "modifiee_le": func.now()},
            )
        )


async def erase_persons(session: AsyncSession, personne_ids: Sequence[uuid.UUID]) -> None:
    """The persons' preferences and the items still waiting for their digest."""
    await session.execute(delete(Preference).where(Preference.personne_id.in_(personne_ids)))
    await session.execute(
        delete(ElementRecapitulatif).where(
            ElementRecapitulatif.personne_id.in_(personne_ids),
            ElementRecapitulatif.envoi_id.is_(None),
        )
    )


# --- digests ------------------------------------------------------------------------------


def _mode_now(defaults: Mapping[str, str]) -> ColumnElement[str]:
    """An item's family's mode for its person now: chosen, else the family's default."""
    default = case(defaults, value=ElementRecapitulatif.famille, else_=ModeEnvoi.immediat.value)
    return func.coalesce(Preference.mode, default)


async def digest_candidates(
    session: AsyncSession,
    defaults: Mapping[str, str],
    daily: dt.datetime,
    weekly: dt.datetime,
    after: uuid.UUID | None,
    persons: int,
) -> list[tuple[ElementRecapitulatif, str]]:
    """The pending items to act on now, with their family's mode now, of the first
    `persons` persons after `after` (in id order): those due in a daily digest (held
    before `daily`; "immédiat" since they were held counts as daily), in a weekly one
    (held before `weekly`), or whose family was switched off since."""
    mode = _mode_now(defaults)
    due = and_(
        ElementRecapitulatif.envoi_id.is_(None),
        or_(
            mode == ModeEnvoi.desactive.value,
            and_(
                mode.in_([ModeEnvoi.quotidien.value, ModeEnvoi.immediat.value]),
                ElementRecapitulatif.cree_le < daily,
            ),
            and_(mode == ModeEnvoi.hebdomadaire.value, ElementRecapitulatif.cree_le < weekly),
        ),
    )
    joined = select(ElementRecapitulatif).outerjoin(
        Preference,
        and_(
            Preference.personne_id == ElementRecapitulatif.personne_id,
            Preference.famille == ElementRecapitulatif.famille,
        ),
    )
    who = joined.with_only_columns(ElementRecapitulatif.personne_id).where(due).distinct()
    if after is not None:
        who = who.where(ElementRecapitulatif.personne_id > after)
    first = who.order_by(ElementRecapitulatif.personne_id).limit(persons).subquery()
    stmt = (
        joined.add_columns(mode)
        .where(due, ElementRecapitulatif.personne_id.in_(select(first.c.personne_id)))
        .order_by(ElementRecapitulatif.personne_id, ElementRecapitulatif.cree_le)
    )
    return [(item, str(m)) for item, m in (await session.execute(stmt)).all()]


async def lock_pending(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[ElementRecapitulatif]:
    """The items still pending among `ids`, locked (another digest run skips them)."""
    stmt = (
        select(ElementRecapitulatif)
        .where(ElementRecapitulatif.id.in_(ids), ElementRecapitulatif.envoi_id.is_(None))
        .order_by(ElementRecapitulatif.cree_le)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def drop_items(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await session.execute(delete(ElementRecapitulatif).where(ElementRecapitulatif.id.in_(ids)))


async def add_digest(session: AsyncSession, values: Mapping[str, object]) -> bool:
    """The digest's line of the log; False if the person already has one for that time."""
    result = await session.execute(
        insert(Envoi)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=[Envoi.personne_id, Envoi.echeance])
        .returning(Envoi.id)
    )
    return result.first() is not None


async def attach(session: AsyncSession, ids: Sequence[uuid.UUID], envoi_id: uuid.UUID) -> None:
    await session.execute(
        update(ElementRecapitulatif)
        .where(ElementRecapitulatif.id.in_(ids))
        .values(envoi_id=envoi_id)
        .execution_options(synchronize_session=False)
    )
