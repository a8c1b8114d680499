"""Every SQL statement of the plan d'actions (scope, axes, actions, indicateurs, the change
sequence). The lists' reads and delta sync are in `repository_sync`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple, Protocol, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Uuid,
    all_,
    bindparam,
    delete,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import (
    ConventionRef,
    ReadScope,
    names_of,
    readable_replica,
    row_to_ref,
)
from kernel.principal import Principal
from kernel.reads import Keyset, columns
from services.actions.models import (
    CHANGES,
    Action,
    Axe,
    Indicateur,
    Suivi,
    ValeurIndicateur,
    convention_ref,
)
from services.actions.models import Tombstone as Tombstone
from services.actions.repository_sync import ListQuery, list_query
from services.actions.rules import STATUTS_CLOS, EtatSuivi

M = TypeVar("M")
ref = convention_ref


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- scope -----------------------------------------------------------------------------


async def ref_by_id(session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef | None:
    row = (await session.execute(select(ref).where(ref.c.id == convention_id))).one_or_none()
    return row_to_ref(row) if row is not None else None


def _ref_from(row: Sequence[object], offset: int) -> ConventionRef:
    names = [c.name for c in ref.c]
    return ConventionRef.model_validate(dict(zip(names, row[offset:], strict=True)))


async def scoped(
    session: AsyncSession,
    model: type[M],
    object_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
    for_share: bool = False,
) -> tuple[M, ConventionRef] | None:
    """The object and its convention, only if the principal may read that convention;
    its row locked for update, or in share mode."""
    convention_col = model.convention_id  # type: ignore[attr-defined]
    scope = ReadScope.of(principal)
    stmt = (
        select(model, *ref.c)
        .join(ref, ref.c.id == convention_col)
        .where(model.id == object_id, readable_replica(ref, scope.kind))  # type: ignore[attr-defined]
    )
    if for_update or for_share:
        stmt = stmt.with_for_update(of=model, read=not for_update)
    row = (await session.execute(stmt, scope.params)).one_or_none()
    if row is None:
        return None
    return row[0], _ref_from(row, 1)


async def scoped_indicateur(
    session: AsyncSession,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
) -> tuple[Indicateur, Action, ConventionRef] | None:
    """`scoped` for an indicator of the given action, with that action (its porteurs)."""
    scope = ReadScope.of(principal)
    stmt = (
        select(Indicateur, Action, *ref.c)
        .join(Action, Action.id == Indicateur.action_id)
        .join(ref, ref.c.id == Indicateur.convention_id)
        .where(
            Indicateur.id == indicateur_id,
            Indicateur.action_id == action_id,
            readable_replica(ref, scope.kind),
        )
    )
    if for_update:
        stmt = stmt.with_for_update(of=Indicateur)
    row = (await session.execute(stmt, scope.params)).one_or_none()
    if row is None:
        return None
    return row[0], row[1], _ref_from(row, 2)


async def convention_of(
    session: AsyncSession, model: type[M], object_id: uuid.UUID, **under: uuid.UUID | None
) -> uuid.UUID | None:
    """The convention of a live object (with the given column values: an indicator's
    action), None when there is none; the caller checks the reader's scope."""
    columns = model.__table__.c  # type: ignore[attr-defined]
    stmt = select(columns.convention_id).where(
        columns.id == object_id, *(columns[name] == value for name, value in under.items())
    )
    found: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def insert_new(session: AsyncSession, model: type[M], **values: object) -> M | None:
    """A new row (version 1) of a PUT that creates, or None when its unique key was
    taken meanwhile by a concurrent twin (the caller answers 412)."""
    stmt = (
        insert(model)
        .values(id=uuid.uuid4(), version=1, **values)
        .on_conflict_do_nothing()
        .returning(model)
    )
    return (await session.scalars(stmt)).one_or_none()


# --- change sequence and delta sync --------------------------------------------------


async def next_seq(session: AsyncSession) -> int:
    return await CHANGES.next(session)


class Versioned(Protocol):
    """A row of the plan: versioned (ETag) and placed in the change sequence."""

    version: int
    seq: int
    updated_at: dt.datetime


async def touch(session: AsyncSession, obj: Versioned) -> None:
    """A change: new version (ETag), new place in the change sequence (delta sync)."""
    obj.version = obj.version + 1
    obj.seq = await next_seq(session)
    obj.updated_at = utcnow()


async def bury(
    session: AsyncSession,
    kind: str,
    ids: Sequence[uuid.UUID],
    convention_id: uuid.UUID,
    parent_id: uuid.UUID | None,
) -> None:
    if not ids:
        return
    await session.execute(
        insert(Tombstone)
        .values(
            [
                {"id": i, "kind": kind, "convention_id": convention_id, "parent_id": parent_id}
                for i in ids
            ]
        )
        .on_conflict_do_nothing()
    )


# --- axes ------------------------------------------------------------------------------


class AxeRow(NamedTuple):
    """An axe as AxeOut shows it, and its change number (delta sync)."""

    id: uuid.UUID
    convention_id: uuid.UUID
    titre: str
    description: str | None
    position: int
    version: int
    seq: int


AXES_LIST = list_query(
    AxeRow,
    lambda: select(*columns(AxeRow, Axe)).where(Axe.convention_id == bindparam("parent_id")),
    order=Keyset((Axe.position, Axe.id)),
    seq=Axe.seq,
    tombstone_kind="axe",
)


async def next_axe_position(session: AsyncSession, convention_id: uuid.UUID) -> int:
    value = (
        await session.execute(
            select(func.coalesce(func.max(Axe.position), 0)).where(
                Axe.convention_id == convention_id
            )
        )
    ).scalar_one()
    return int(value) + 1


async def axes_for_update(session: AsyncSession, convention_id: uuid.UUID) -> list[Axe]:
    stmt = (
        select(Axe)
        .where(Axe.convention_id == convention_id)
        .order_by(Axe.position)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars().all())


async def axe_in_convention(
    session: AsyncSession, axe_id: uuid.UUID, convention_id: uuid.UUID
) -> Axe | None:
    return (
        await session.execute(
            select(Axe).where(Axe.id == axe_id, Axe.convention_id == convention_id)
        )
    ).scalar_one_or_none()


async def count_actions_in_axe(session: AsyncSession, axe_id: uuid.UUID) -> int:
    return int(
        (await session.execute(select(func.count()).where(Action.axe_id == axe_id))).scalar_one()
    )


# --- actions ---------------------------------------------------------------------------


class ActionListed(NamedTuple):
    """An action as ActionSummary shows it (with what `en_retard` derives from), its
    axe's position (the list's order) and its change number (delta sync)."""

    id: uuid.UUID
    convention_id: uuid.UUID
    axe_id: uuid.UUID
    parent_id: uuid.UUID | None
    position: int
    reference: str | None
    titre: str
    statut: str
    date_echeance: dt.date | None
    porteur_ids: list[uuid.UUID]
    porteur_noms: list[str | None]
    version: int
    axe_position: int
    seq: int


def late_on(today: ColumnElement[dt.date]) -> ColumnElement[bool]:
    """`rules.en_retard` in SQL: the action is late on `today`."""
    clos = literal([s.value for s in STATUTS_CLOS], ARRAY(String))
    return (Action.date_echeance < today) & (Action.statut != all_(clos))


# The plan's order, wherever a convention's actions are listed or exported: by axe,
# then position in the axe (the id breaks ties, so pages never overlap).
PLAN_ORDER = (Axe.position, Action.position, Action.id)

# A convention's compact list of actions, by axe then position: its columns only (a
# page of ORM objects would load, and build objects of, every field of every fiche).
ACTIONS_LIST = list_query(
    ActionListed,
    lambda: (
        select(
            *columns(
                ActionListed,
                Action,
                axe_position=Axe.position,
                porteur_noms=names_of(ref, Action.porteur_ids.expression),
            )
        )
        .join(Axe, Axe.id == Action.axe_id)
        .join(ref, ref.c.id == Action.convention_id)
        .where(Action.convention_id == bindparam("parent_id"))
    ),
    order=Keyset(
        PLAN_ORDER,
        key=lambda row: (row.axe_position, row.position, row.id),
    ),
    seq=Action.seq,
    tombstone_kind="action",
    filters={
        "axe_id": lambda value: Action.axe_id == value,
        "statut": lambda value: Action.statut == value,
        "porteur_ids": lambda value: Action.porteur_ids.bool_op("@>")(
            type_coerce(value, ARRAY(Uuid))
        ),
        # en_retard=true: late on that day; en_retard=false: not late (or no due date).
        "en_retard_au": late_on,
        "a_jour_au": lambda value: ~late_on(value) | Action.date_echeance.is_(None),
    },
)


def actions_list(
    *,
    axe_id: uuid.UUID | None,
    statut: str | None,
    porteur_id: uuid.UUID | None,
    en_retard: bool | None,
    today: dt.date,
) -> ListQuery[ActionListed]:
    """A convention's actions, filtered."""
    return ACTIONS_LIST.where(
        axe_id=axe_id,
        statut=statut,
        porteur_ids=None if porteur_id is None else [porteur_id],
        en_retard_au=today if en_retard is True else None,
        a_jour_au=today if en_retard is False else None,
    )


async def next_action_position(session: AsyncSession, axe_id: uuid.UUID) -> int:
    value = (
        await session.execute(
            select(func.coalesce(func.max(Action.position), 0)).where(Action.axe_id == axe_id)
        )
    ).scalar_one()
    return int(value) + 1


async def actions_of_axe_for_update(session: AsyncSession, axe_id: uuid.UUID) -> list[Action]:
    stmt = select(Action).where(Action.axe_id == axe_id).order_by(Action.position).with_for_update()
    return list((await session.execute(stmt)).scalars().all())


async def action_in_convention(
    session: AsyncSession, action_id: uuid.UUID, convention_id: uuid.UUID
) -> Action | None:
    return (
        await session.execute(
            select(Action).where(Action.id == action_id, Action.convention_id == convention_id)
        )
    ).scalar_one_or_none()


async def action_with_reference(
    session: AsyncSession, convention_id: uuid.UUID, reference: str
) -> uuid.UUID | None:
    """The action of the convention carrying `reference`, under a lock on the
    convention's références held until commit: two writers giving the same one at once
    wait for each other, so the second sees the first's (a 409, not the unique index's
    error)."""
    key = func.hashtextextended(f"actions.reference:{convention_id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))
    stmt = select(Action.id).where(
        Action.convention_id == convention_id, Action.reference == reference
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def sous_actions(session: AsyncSession, parent_id: uuid.UUID) -> list[Action]:
    stmt = select(Action).where(Action.parent_id == parent_id).order_by(Action.position, Action.id)
    return list((await session.execute(stmt)).scalars().all())


async def children_ids(session: AsyncSession, parent_id: uuid.UUID) -> list[uuid.UUID]:
    stmt = select(Action.id).where(Action.parent_id == parent_id)
    return list((await session.execute(stmt)).scalars().all())


async def suivis_not_draft(session: AsyncSession, action_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        Suivi.action_id == action_id, Suivi.etat != EtatSuivi.brouillon.value
    )
    return int((await session.execute(stmt)).scalar_one())


async def delete_action(session: AsyncSession, action: Action) -> None:
    indicateur_ids = list(
        (
            await session.execute(select(Indicateur.id).where(Indicateur.action_id == action.id))
        ).scalars()
    )
    suivi_ids = list(
        (await session.execute(select(Suivi.id).where(Suivi.action_id == action.id))).scalars()
    )
    await bury(session, "indicateur", indicateur_ids, action.convention_id, action.id)
    await bury(session, "suivi", suivi_ids, action.convention_id, action.id)
    await bury(session, "action", [action.id], action.convention_id, action.axe_id)
    await session.execute(delete(Action).where(Action.id == action.id))


async def delete_axe(session: AsyncSession, axe: Axe) -> None:
    await bury(session, "axe", [axe.id], axe.convention_id, None)
    await session.execute(delete(Axe).where(Axe.id == axe.id))


# --- indicateurs -----------------------------------------------------------------------


class IndicateurRow(NamedTuple):
    """An indicator as IndicateurOut shows it (its values apart), when it was created (the
    list's order) and its change number (delta sync)."""

    id: uuid.UUID
    convention_id: uuid.UUID
    action_id: uuid.UUID | None
    axe_id: uuid.UUID | None
    libelle: str
    nature: str
    unite: str
    valeur_reference: Decimal | None
    date_reference: dt.date | None
    cibles: dict[str, object]
    version: int
    created_at: dt.datetime
    seq: int


INDICATEURS_LIST = list_query(
    IndicateurRow,
    lambda: select(*columns(IndicateurRow, Indicateur)).where(
        Indicateur.action_id == bindparam("parent_id")
    ),
    order=Keyset((Indicateur.created_at, Indicateur.id)),
    seq=Indicateur.seq,
    tombstone_kind="indicateur",
)

# The indicators of a convention as a whole and of its axes (or of one axe, `axe_id`).
INDICATEURS_CONVENTION_LIST = list_query(
    IndicateurRow,
    lambda: select(*columns(IndicateurRow, Indicateur)).where(
        Indicateur.convention_id == bindparam("parent_id"), Indicateur.action_id.is_(None)
    ),
    order=Keyset((Indicateur.created_at, Indicateur.id)),
    seq=Indicateur.seq,
    tombstone_kind="indicateur",
    filters={"axe_id": lambda value: Indicateur.axe_id == value},
    # Their tombstones hang under the convention itself, not under an action.
    tombstones_by_parent=True,
)


async def count_indicateurs_of_axe(session: AsyncSession, axe_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(Indicateur.axe_id == axe_id)
    return int((await session.execute(stmt)).scalar_one())


async def valeurs_of(
    session: AsyncSession, indicateur_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ValeurIndicateur]]:
    out: dict[uuid.UUID, list[ValeurIndicateur]] = {i: [] for i in indicateur_ids}
    if not indicateur_ids:
        return out
    stmt = (
        select(ValeurIndicateur)
        .where(ValeurIndicateur.indicateur_id.in_(indicateur_ids))
        .order_by(ValeurIndicateur.periode)
    )
    for v in (await session.execute(stmt)).scalars():
        out[v.indicateur_id].append(v)
    return out


async def valeur_of(
    session: AsyncSession, indicateur_id: uuid.UUID, periode: str, *, for_update: bool = False
) -> ValeurIndicateur | None:
    stmt = select(ValeurIndicateur).where(
        ValeurIndicateur.indicateur_id == indicateur_id, ValeurIndicateur.periode == periode
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_valeur(
    session: AsyncSession,
    indicateur_id: uuid.UUID,
    periode: str,
    valeur: Decimal,
    commentaire: str | None,
    source: str | None,
    auteur: str,
    auteur_nom: str | None,
) -> ValeurIndicateur:
    """A validated suivi's value: created, or replaced as a new version (stale ETags);
    the value as it now stands."""
    stmt = insert(ValeurIndicateur).values(
        id=uuid.uuid4(),
        indicateur_id=indicateur_id,
        periode=periode,
        valeur=valeur,
        commentaire=commentaire,
        source=source,
        auteur=auteur,
        auteur_nom=auteur_nom,
        version=1,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[ValeurIndicateur.indicateur_id, ValeurIndicateur.periode],
        set_={
            "valeur": stmt.excluded.valeur,
            "commentaire": stmt.excluded.commentaire,
            "source": stmt.excluded.source,
            "auteur": stmt.excluded.auteur,
            "auteur_nom": stmt.excluded.auteur_nom,
            "version": ValeurIndicateur.version + 1,
            "updated_at": func.now(),
        },
    )
    returning = stmt.returning(ValeurIndicateur).execution_options(populate_existing=True)
    return (await session.scalars(returning)).one()


async def bump_indicateurs(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    """A new value changes the indicator as delta sync sees it. Locks the indicators
    (in id order) like a PUT of a value does, so the two never interleave."""
    stmt = (
        select(Indicateur).where(Indicateur.id.in_(ids)).order_by(Indicateur.id).with_for_update()
    )
    for indicateur in (await session.execute(stmt)).scalars():
        await touch(session, indicateur)


async def delete_indicateur(session: AsyncSession, indicateur: Indicateur) -> None:
    # Listed under its action, or under the convention (its own and its axes').
    parent = indicateur.action_id or indicateur.convention_id
    await bury(session, "indicateur", [indicateur.id], indicateur.convention_id, parent)
    await session.execute(delete(Indicateur).where(Indicateur.id == indicateur.id))
