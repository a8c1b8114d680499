"""Every SQL statement of the lists' reads: keyset pages and delta sync.

A list hangs under a parent (a convention, an action) the caller must see. Its first
page also returns a sync token; ``since=<token>`` returns what changed after it, with
the tombstones of what was deleted. Writers number their changes with
`repository.touch` (the change sequence, see migration 0002).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ScopeShape, readable_shape_clause, scope_params
from kernel.database import CompiledQuery
from kernel.errors import BadRequest
from kernel.pagination import (
    PageParams,
    after_keyset_params,
    decode_cursor,
    encode_cursor,
    keyset_page,
    keyset_params,
)
from kernel.principal import Principal
from services.actions.models import Action, Tombstone
from services.actions.models import convention_ref as ref

# The sequence read as a table, behind the writers' lock taken shared: the token is
# read after every writer holding a number has committed (see migration 0002).
_change_seq = table(
    "change_seq", column("last_value", BigInteger), column("is_called", Boolean), schema="actions"
)
_committed_writers = select(
    func.pg_advisory_xact_lock_shared(func.hashtext(literal_column("'coop.actions.change_seq'")))
).lateral("committed_writers")


def _sync_point_statement(visible: ColumnElement[bool]) -> Select[Any]:
    return select(_change_seq.c.last_value, _change_seq.c.is_called, visible).select_from(
        _change_seq.join(_committed_writers, true())
    )


def decode_token(token: str) -> int:
    try:
        (value,) = decode_cursor(token, [int])
    except BadRequest:
        raise BadRequest("Jeton de synchronisation invalide.") from None
    if value < 0:
        raise BadRequest("Jeton de synchronisation invalide.")
    return int(value)


def encode_token(seq: int) -> str:
    return encode_cursor([seq])


@dataclass
class Listing:
    # asyncpg Records: the list's columns, then its sort key (or its change number).
    rows: list[Any]
    next_cursor: str | None
    deleted: list[tuple[uuid.UUID, str]]
    sync_token: str


ParentKind = Literal["convention", "action"]


@dataclass(frozen=True)
class Parent:
    """What a list hangs under (a convention, an action), for one caller."""

    kind: ParentKind
    id: uuid.UUID
    principal: Principal
    # Runs when the caller may not see it: raises 404, or fetches it and lets the list go on.
    hidden: Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ListQuery:
    """A list under its parent. `build` returns its statement with every value a bind
    parameter (the parent's is ``parent_id``); its pages are built and compiled once per
    `shape` (the list and which of its filters are used) and `params` bound at each call."""

    shape: tuple[Hashable, ...]
    build: Callable[[], Select[Any]]
    params: dict[str, Any]
    seq_col: Any
    order_cols: tuple[Any, ...]
    # What its deletions are recorded as (delta sync's tombstones).
    tombstone_kind: str
    # Its tombstones are found by their parent's id even under a convention: the
    # convention's own indicators are buried under its id, its actions' under theirs.
    tombstones_by_parent: bool = False


def _parent_visible(kind: ParentKind, shape: ScopeShape) -> ColumnElement[bool]:
    if kind == "convention":
        return (
            select(ref.c.id)
            .where(ref.c.id == bindparam("parent_id"), readable_shape_clause(ref, shape))
            .exists()
        )
    return (
        select(Action.id)
        .join(ref, ref.c.id == Action.convention_id)
        .where(Action.id == bindparam("parent_id"), readable_shape_clause(ref, shape))
        .exists()
    )


@functools.lru_cache(maxsize=16)
def _sync_point_query(kind: ParentKind, shape: ScopeShape) -> CompiledQuery:
    # The caller's right to see the parent rides in the round trip that reads the token.
    return CompiledQuery(_sync_point_statement(_parent_visible(kind, shape)))


async def sync_point(session: AsyncSession, parent: Parent) -> tuple[int, bool]:
    """The highest change number every change up to which is committed (waits for the
    writers in flight), and whether the caller may see `parent`: one round trip."""
    principal = parent.principal
    last_value, is_called, visible = await _sync_point_query(
        parent.kind, ScopeShape.of(principal)
    ).fetchrow(session, {"parent_id": parent.id, **scope_params(principal)})
    return (int(last_value) if is_called else 0), bool(visible)


# Pages of every list shape seen (a few dozen at most: lists x filters used x modes).
_page_queries: dict[tuple[Hashable, ...], CompiledQuery] = {}


def _page_query(query: ListQuery, mode: str) -> CompiledQuery:
    key = (*query.shape, mode)
    compiled = _page_queries.get(key)
    if compiled is None:
        stmt = query.build()
        if mode == "since":
            stmt = stmt.add_columns(query.seq_col).where(query.seq_col > bindparam("lower"))
            stmt = stmt.order_by(query.seq_col)
        else:
            if mode == "resume":
                stmt = stmt.where(after_keyset_params(query.order_cols))
            stmt = stmt.add_columns(*query.order_cols).order_by(*query.order_cols)
        compiled = _page_queries[key] = CompiledQuery(stmt.limit(bindparam("limit")))
    return compiled


@functools.lru_cache(maxsize=8)
def _tombstones_query(by_parent: bool, bounded: bool) -> CompiledQuery:
    under = Tombstone.parent_id if by_parent else Tombstone.convention_id
    stmt = select(Tombstone.id, Tombstone.kind).where(
        under == bindparam("parent_id"),
        Tombstone.kind == bindparam("kind"),
        Tombstone.seq > bindparam("lower"),
    )
    if bounded:
        stmt = stmt.where(Tombstone.seq <= bindparam("upto"))
    return CompiledQuery(stmt.order_by(Tombstone.seq))


async def listing(
    session: AsyncSession, query: ListQuery, *, page: PageParams, since: str | None, parent: Parent
) -> Listing:
    """A keyset page on the list's order columns, or (``since``) the changes after a sync
    token plus the tombstones of its kind under `parent`. Each row ends with its sort key
    (the cursor), or its change number."""
    token_now, visible = await sync_point(session, parent)
    if not visible:
        await parent.hidden()
    params = {**query.params, "parent_id": parent.id, "limit": page.limit + 1}
    if since is None:
        if page.cursor is not None:
            params.update(keyset_params(page.cursor, query.order_cols))
        mode = "first" if page.cursor is None else "resume"
        fetched = await _page_query(query, mode).fetch(session, params)
        n_keys = len(query.order_cols)
        kept, nxt = keyset_page(fetched, page.limit, lambda r: list(r)[-n_keys:])
        return Listing(list(kept), nxt, [], encode_token(token_now))
    lower = decode_token(page.cursor or since)
    rows = await _page_query(query, "since").fetch(session, {**params, "lower": lower})
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    upto = int(rows[-1][-1]) if more else None
    by_parent = parent.kind != "convention" or query.tombstones_by_parent
    tombstones = await _tombstones_query(by_parent, upto is not None).fetch(
        session,
        {"parent_id": parent.id, "kind": query.tombstone_kind, "lower": lower, "upto": upto},
    )
    deleted = [(r[0], r[1]) for r in tombstones]
    if upto is not None:
        return Listing(rows, encode_token(upto), deleted, encode_token(upto))
    return Listing(rows, None, deleted, encode_token(max(token_now, lower)))
