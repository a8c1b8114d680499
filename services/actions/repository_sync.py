"""Every SQL statement of the lists' reads: keyset pages and delta sync.

A list hangs under a parent (a convention, an action) the caller must see. Its first
page also returns a sync token; ``since=<token>`` returns what changed after it, with
the tombstones of what was deleted. Writers number their changes with
`repository.touch` (the change sequence, see migration 0002).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Select,
    bindparam,
    column,
    select,
    table,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ReadScope, ScopeKind, readable_replica
from kernel.pagination import (
    KeyColumn,
    PageParams,
    decode_sync_token,
    encode_sync_token,
)
from kernel.principal import Principal
from kernel.reads import Filter, Keyset, Read, Slice, columns
from services.actions.models import CHANGES, Action, Tombstone
from services.actions.models import convention_ref as ref

R = TypeVar("R", bound=NamedTuple)

# The sequence read as a table, behind the writers' lock taken shared: the token is
# read after every writer holding a number has committed (kernel.commit_order).
_change_seq = table(
    "change_seq", column("last_value", BigInteger), column("is_called", Boolean), schema="actions"
)
_committed_writers = CHANGES.committed_writers()


@dataclass(frozen=True)
class Listing(Generic[R]):
    rows: list[R]
    next_cursor: str | None
    deleted: list[Deleted]
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
class ListQuery(Generic[R]):
    """A list under its parent (``parent_id``): its pages in its order, and its changes
    after a sync token (on its change numbers, field ``seq`` of its rows). `params`: the
    values of its optional filters for one call (`where`)."""

    pages: Read[R, None]
    changes: Read[R, None]
    # What its deletions are recorded as (delta sync's tombstones).
    tombstone_kind: str
    # Its tombstones are found by their parent's id even under a convention: the
    # convention's own indicators are buried under its id, its actions' under theirs.
    tombstones_by_parent: bool = False
    params: Mapping[str, object] = field(default_factory=dict)

    def where(self, **params: object) -> ListQuery[R]:
        return replace(self, params=params)


def list_query(
    row: type[R],
    statement: Callable[[], Select[Any]],
    *,
    order: Keyset,
    seq: KeyColumn,
    tombstone_kind: str,
    filters: Mapping[str, Filter] | None = None,
    tombstones_by_parent: bool = False,
) -> ListQuery[R]:
    """A list declared once: its row type, its statement (every value a bind parameter,
    the parent's ``parent_id``), its optional filters, its order."""

    def build(part: Slice[None]) -> Select[Any]:
        return part.apply(statement())

    return ListQuery(
        Read(row, build, variants=(None,), filters=filters, keyset=order),
        Read(row, build, variants=(None,), filters=filters, keyset=Keyset((seq,))),
        tombstone_kind,
        tombstones_by_parent,
    )


class SyncPoint(NamedTuple):
    last_value: int
    is_called: bool
    visible: bool


def _sync_point_read(kind: ParentKind) -> Read[SyncPoint, ScopeKind]:
    # The caller's right to see the parent rides in the round trip that reads the token.
    def build(part: Slice[ScopeKind]) -> Select[Any]:
        if kind == "convention":
            visible = (
                select(ref.c.id)
                .where(ref.c.id == bindparam("parent_id"), readable_replica(ref, part.variant))
                .exists()
            )
        else:
            visible = (
                select(Action.id)
                .join(ref, ref.c.id == Action.convention_id)
                .where(Action.id == bindparam("parent_id"), readable_replica(ref, part.variant))
                .exists()
            )
        return select(*columns(SyncPoint, _change_seq, visible=visible)).select_from(
            _change_seq.join(_committed_writers, true())
        )

    return Read(SyncPoint, build, variants=ScopeKind)


_SYNC_POINTS = {kind: _sync_point_read(kind) for kind in ("convention", "action")}


async def sync_point(session: AsyncSession, parent: Parent) -> tuple[int, bool]:
    """The highest change number every change up to which is committed (waits for the
    writers in flight), and whether the caller may see `parent`: one round trip."""
    scope = ReadScope.of(parent.principal)
    found = await _SYNC_POINTS[parent.kind].first(
        session, scope.kind, {"parent_id": parent.id, **scope.params}
    )
    assert found is not None  # one row: the sequence's
    return (found.last_value if found.is_called else 0), found.visible


class Deleted(NamedTuple):
    """A tombstone, as delta sync reports it (`deleted` of a SyncPage)."""

    id: uuid.UUID
    kind: str


def _tombstones_read(by_parent: bool) -> Read[Deleted, None]:
    under = Tombstone.parent_id if by_parent else Tombstone.convention_id
    return Read(
        Deleted,
        lambda part: part.apply(
            select(*columns(Deleted, Tombstone)).where(
                under == bindparam("parent_id"),
                Tombstone.kind == bindparam("kind"),
                Tombstone.seq > bindparam("lower"),
            )
        ).order_by(Tombstone.seq),
        variants=(None,),
        filters={"upto": lambda value: Tombstone.seq <= value},
    )


_TOMBSTONES = {by_parent: _tombstones_read(by_parent) for by_parent in (True, False)}


async def listing(
    session: AsyncSession,
    query: ListQuery[R],
    *,
    page: PageParams,
    since: str | None,
    parent: Parent,
) -> Listing[R]:
    """A keyset page in the list's order, or (``since``) the changes after a sync token
    plus the tombstones of its kind under `parent`."""
    token_now, visible = await sync_point(session, parent)
    if not visible:
        await parent.hidden()
    params = {**query.params, "parent_id": parent.id}
    if since is None:
        found = await query.pages.page(session, None, params, limit=page.limit, cursor=page.cursor)
        return Listing(found.rows, found.next_cursor, [], encode_sync_token(token_now))
    lower = decode_sync_token(page.cursor or since)
    changed = await query.changes.page(session, None, params, limit=page.limit, after=(lower,))
    upto = None if changed.next_key is None else int(cast(int, changed.next_key[0]))
    by_parent = parent.kind != "convention" or query.tombstones_by_parent
    deleted = await _TOMBSTONES[by_parent].all(
        session,
        None,
        {"parent_id": parent.id, "kind": query.tombstone_kind, "lower": lower, "upto": upto},
    )
    if upto is not None:
        return Listing(changed.rows, encode_sync_token(upto), deleted, encode_sync_token(upto))
    return Listing(changed.rows, None, deleted, encode_sync_token(max(token_now, lower)))
