"""Every SQL statement of the plan d'actions (scope, axes, actions, indicateurs, sync)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnElement,
    Select,
    Uuid,
    column,
    delete,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef, readable_clause, row_to_ref
from kernel.errors import BadRequest
from kernel.pagination import PageParams, after_keyset, decode_cursor, encode_cursor
from kernel.principal import Principal
from services.actions.models import (
    Action,
    Axe,
    IdempotencyRecord,
    Indicateur,
    Suivi,
    ValeurIndicateur,
    convention_ref,
)
from services.actions.models import Tombstone as Tombstone
from services.actions.rules import STATUTS_CLOS, EtatSuivi

M = TypeVar("M")
ref = convention_ref


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- scope -----------------------------------------------------------------------------


async def readable_ref(
    session: AsyncSession, convention_id: uuid.UUID, principal: Principal
) -> ConventionRef | None:
    row = (
        await session.execute(
            select(ref).where(ref.c.id == convention_id, readable_clause(ref, principal))
        )
    ).one_or_none()
    return row_to_ref(row) if row is not None else None


async def ref_by_id(session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef | None:
    row = (await session.execute(select(ref).where(ref.c.id == convention_id))).one_or_none()
    return row_to_ref(row) if row is not None else None


def _ref_from(row: Any, offset: int) -> ConventionRef:
    names = [c.name for c in ref.c]
    return ConventionRef.model_validate(dict(zip(names, row[offset:], strict=True)))


async def scoped(
    session: AsyncSession,
    model: type[M],
    object_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
) -> tuple[M, ConventionRef] | None:
    """The object and its convention, only if the principal may read that convention."""
    convention_col = model.convention_id  # type: ignore[attr-defined]
    stmt = (
        select(model, *ref.c)
        .join(ref, ref.c.id == convention_col)
        .where(model.id == object_id, readable_clause(ref, principal))  # type: ignore[attr-defined]
    )
    if for_update:
        stmt = stmt.with_for_update(of=model)
    row = (await session.execute(stmt)).one_or_none()
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
    stmt = (
        select(Indicateur, Action, *ref.c)
        .join(Action, Action.id == Indicateur.action_id)
        .join(ref, ref.c.id == Indicateur.convention_id)
        .where(
            Indicateur.id == indicateur_id,
            Indicateur.action_id == action_id,
            readable_clause(ref, principal),
        )
    )
    if for_update:
        stmt = stmt.with_for_update(of=Indicateur)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return row[0], row[1], _ref_from(row, 2)


async def insert_new(session: AsyncSession, model: type[M], **values: Any) -> M | None:
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
    # Under the writers' lock, held until commit (see migration 0002).
    return int((await session.execute(text("SELECT actions.next_change_seq()"))).scalar_one())


# The sequence read as a table, behind the writers' lock taken shared: the token is
# read after every writer holding a number has committed (see migration 0002).
_change_seq = table(
    "change_seq", column("last_value", BigInteger), column("is_called", Boolean), schema="actions"
)
_committed_writers = select(
    func.pg_advisory_xact_lock_shared(func.hashtext(literal_column("'coop.actions.change_seq'")))
).lateral("committed_writers")


async def _sync_point(session: AsyncSession, visible: ColumnElement[bool]) -> tuple[int, bool]:
    stmt = select(_change_seq.c.last_value, _change_seq.c.is_called, visible).select_from(
        _change_seq.join(_committed_writers, true())
    )
    last_value, is_called, seen = (await session.execute(stmt)).one()
    return (int(last_value) if is_called else 0), bool(seen)


async def current_seq(session: AsyncSession) -> int:
    """The highest number every change up to which is committed: waits for in-flight writers."""
    return (await _sync_point(session, true()))[0]


async def touch(session: AsyncSession, obj: Any) -> None:
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


def decode_token(token: str) -> int:
    try:
        (value,) = decode_cursor(token, [int])
    except BadRequest:
        value = -1
    if value < 0:
        raise BadRequest("Jeton de synchronisation invalide.")
    return int(value)


def encode_token(seq: int) -> str:
    return encode_cursor([seq])


@dataclass
class Listing:
    rows: list[Any]
    next_cursor: str | None
    deleted: list[tuple[uuid.UUID, str]]
    sync_token: str


@dataclass(frozen=True)
class Parent:
    """What a list hangs under (a convention, an action), for one caller."""

    # The caller may read it: checked in the round trip that reads the sync token.
    visible: ColumnElement[bool]
    # The deletions listed under it.
    tombstones: ColumnElement[bool]
    # Runs when it is not visible: raises 404, or fetches it and lets the list go on.
    hidden: Callable[[], Awaitable[object]]


def convention_parent(
    convention_id: uuid.UUID, principal: Principal, hidden: Callable[[], Awaitable[object]]
) -> Parent:
    return Parent(
        select(ref.c.id).where(ref.c.id == convention_id, readable_clause(ref, principal)).exists(),
        Tombstone.convention_id == convention_id,
        hidden,
    )


def action_parent(
    action_id: uuid.UUID, principal: Principal, hidden: Callable[[], Awaitable[object]]
) -> Parent:
    return Parent(
        select(Action.id)
        .join(ref, ref.c.id == Action.convention_id)
        .where(Action.id == action_id, readable_clause(ref, principal))
        .exists(),
        Tombstone.parent_id == action_id,
        hidden,
    )


async def listing(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    *,
    seq_col: Any,
    order_cols: Sequence[Any],
    page: PageParams,
    since: str | None,
    kind: str,
    parent: Parent,
) -> Listing:
    """A keyset page on `order_cols`, or (``since``) the changes after a sync token plus
    the tombstones of `kind` under `parent`. The sort key (cursor) of a row is read from
    the order columns, added at the end of each row."""
    token_now, visible = await _sync_point(session, parent.visible)
    if not visible:
        await parent.hidden()
    if since is None:
        after = after_keyset(order_cols, page.cursor)
        if after is not None:
            stmt = stmt.where(after)
        stmt = stmt.add_columns(*order_cols).order_by(*order_cols).limit(page.limit + 1)
        rows = list((await session.execute(stmt)).all())
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        nxt = encode_cursor(rows[-1][-len(order_cols) :]) if more and rows else None
        return Listing(rows, nxt, [], encode_token(token_now))
    lower = decode_token(page.cursor or since)
    stmt = stmt.add_columns(seq_col).where(seq_col > lower).order_by(seq_col)
    rows = list((await session.execute(stmt.limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    tomb_q = select(Tombstone.id, Tombstone.kind).where(
        parent.tombstones, Tombstone.kind == kind, Tombstone.seq > lower
    )
    upto: int | None = None
    if more:
        upto = int(rows[-1][-1])
        tomb_q = tomb_q.where(Tombstone.seq <= upto)
    deleted = [(r[0], r[1]) for r in (await session.execute(tomb_q.order_by(Tombstone.seq))).all()]
    if upto is not None:
        return Listing(rows, encode_token(upto), deleted, encode_token(upto))
    return Listing(rows, None, deleted, encode_token(max(token_now, lower)))


# --- axes ------------------------------------------------------------------------------


def axes_query(convention_id: uuid.UUID) -> Select[Any]:
    return select(Axe).where(Axe.convention_id == convention_id)


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


ACTION_SUMMARY = (
    Action.id,
    Action.convention_id,
    Action.axe_id,
    Action.parent_id,
    Action.position,
    Action.titre,
    Action.statut,
    Action.date_echeance,
    Action.porteur_ids,
    Action.version,
)


def actions_query(
    convention_id: uuid.UUID,
    *,
    axe_id: uuid.UUID | None,
    statut: str | None,
    porteur_id: uuid.UUID | None,
    en_retard: bool | None,
    today: dt.date,
) -> Select[*tuple[Any, ...]]:
    """The compact list's columns only (Core rows): a page of ORM objects would load,
    and build objects of, every field of every fiche."""
    stmt = (
        select(*ACTION_SUMMARY)
        .join(Axe, Axe.id == Action.axe_id)
        .where(Action.convention_id == convention_id)
    )
    if axe_id is not None:
        stmt = stmt.where(Action.axe_id == axe_id)
    if statut is not None:
        stmt = stmt.where(Action.statut == statut)
    if porteur_id is not None:
        stmt = stmt.where(Action.porteur_ids.bool_op("@>")(literal([porteur_id], ARRAY(Uuid))))
    if en_retard is not None:
        late = (Action.date_echeance < today) & Action.statut.not_in(
            [s.value for s in STATUTS_CLOS]
        )
        stmt = stmt.where(late if en_retard else ~late | Action.date_echeance.is_(None))
    return stmt


ACTION_ORDER = (Axe.position, Action.position, Action.id)


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


def indicateurs_query(action_id: uuid.UUID) -> Select[Any]:
    return select(Indicateur).where(Indicateur.action_id == action_id)


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
    valeur: Any,
    commentaire: str | None,
    source: str | None,
    auteur: str,
) -> None:
    """A validated suivi's value: created, or replaced as a new version (stale ETags)."""
    stmt = insert(ValeurIndicateur).values(
        id=uuid.uuid4(),
        indicateur_id=indicateur_id,
        periode=periode,
        valeur=valeur,
        commentaire=commentaire,
        source=source,
        auteur=auteur,
        version=1,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[ValeurIndicateur.indicateur_id, ValeurIndicateur.periode],
        set_={
            "valeur": stmt.excluded.valeur,
            "commentaire": stmt.excluded.commentaire,
            "source": stmt.excluded.source,
            "auteur": stmt.excluded.auteur,
            "version": ValeurIndicateur.version + 1,
            "updated_at": func.now(),
        },
    )
    await session.execute(stmt)


async def bump_indicateurs(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    """A new value changes the indicator as delta sync sees it. Locks the indicators
    (in id order) like a PUT of a value does, so the two never interleave."""
    stmt = (
        select(Indicateur).where(Indicateur.id.in_(ids)).order_by(Indicateur.id).with_for_update()
    )
    for indicateur in (await session.execute(stmt)).scalars():
        await touch(session, indicateur)


async def delete_indicateur(session: AsyncSession, indicateur: Indicateur) -> None:
    await bury(
        session, "indicateur", [indicateur.id], indicateur.convention_id, indicateur.action_id
    )
    await session.execute(delete(Indicateur).where(Indicateur.id == indicateur.id))


# --- idempotency -----------------------------------------------------------------------


async def idempotency_record(
    session: AsyncSession, principal: str, key: str
) -> IdempotencyRecord | None:
    return (
        await session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
            )
        )
    ).scalar_one_or_none()


async def store_idempotency(
    session: AsyncSession,
    *,
    principal: str,
    key: str,
    request_hash: str,
    status_code: int,
    body: Any,
    headers: dict[str, str],
) -> bool:
    """False when a concurrent request with the same key got there first."""
    result = await session.execute(
        insert(IdempotencyRecord)
        .values(
            principal=principal,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            body=body,
            headers=headers,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    return result.scalar_one_or_none() is not None
