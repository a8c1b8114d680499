"""Keyset pagination: ``?limit=`` (capped) and an opaque ``?cursor=``.

A cursor is the sort key of the last item served, base64url-encoded JSON. Services
page with ``WHERE (k1, k2) > (:v1, :v2) ORDER BY k1, k2 LIMIT :limit + 1`` (see
`after_keyset`), never OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, tuple_
from sqlalchemy.orm import QueryableAttribute

from kernel.errors import BadRequest

T = TypeVar("T")
R = TypeVar("R")
# A sort-key column: a Core column or an ORM attribute (``Convention.titre``).
KeyColumn = ColumnElement[Any] | QueryableAttribute[Any]
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


NextCursor = Annotated[
    str | None,
    Field(
        description="Curseur opaque de la page suivante, à renvoyer dans `cursor` ; null sur "
        "la dernière page."
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="Les éléments de cette page, dans l'ordre de la liste.")
    next_cursor: NextCursor = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Nombre d'éléments (max {MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Curseur opaque de la page suivante")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Pagination = Annotated[PageParams, Depends(page_params)]


def _tag(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _revive(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "u":
            return uuid.UUID(raw)
        if tag == "t":
            return dt.datetime.fromisoformat(raw)
        if tag == "d":
            return dt.date.fromisoformat(raw)
    return value


def encode_cursor(key: Sequence[Any]) -> str:
    # Tag typed values ourselves: orjson would turn UUIDs and dates into plain strings.
    raw = orjson.dumps([_tag(v) for v in key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """The sort key in a cursor, one value of each of `types` (``object``: any): a forged
    cursor is a 400, never a value the database refuses (a 500)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("arity")
        revived = [_revive(v) for v in values]
    except (ValueError, binascii.Error, orjson.JSONDecodeError, TypeError) as exc:
        raise BadRequest("Curseur de pagination invalide.") from exc
    if any(t is not object and type(v) is not t for v, t in zip(revived, types, strict=True)):
        raise BadRequest("Curseur de pagination invalide.")
    return revived


def encode_sync_token(seq: int) -> str:
    """A delta-sync token: the change number a client has seen up to (opaque to it)."""
    return encode_cursor([seq])


def decode_sync_token(token: str) -> int:
    """The change number of a token from `encode_sync_token` (400 in French otherwise)."""
    try:
        (value,) = decode_cursor(token, [int])
    except BadRequest:
        raise BadRequest("Jeton de synchronisation invalide.") from None
    if value < 0:
        raise BadRequest("Jeton de synchronisation invalide.")
    return int(value)


def expressions(columns: Sequence[KeyColumn]) -> list[ColumnElement[Any]]:
    return [c.expression if isinstance(c, QueryableAttribute) else c for c in columns]


def _python_type(column: ColumnElement[Any]) -> type:
    try:
        return column.type.python_type
    except NotImplementedError:  # a type SQLAlchemy cannot map: accept what comes
        return object


def key_types(columns: Sequence[KeyColumn]) -> list[type]:
    """The Python type of each sort-key column (what a cursor of theirs must hold)."""
    return [_python_type(c) for c in expressions(columns)]


def after(
    keys: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows after `values` on `keys` (a row-value comparison: one index range scan)."""
    if descending:
        return tuple_(*keys) < tuple_(*values)
    return tuple_(*keys) > tuple_(*values)


def after_keyset(
    columns: Sequence[KeyColumn], cursor: str | None, *, descending: bool = False
) -> ColumnElement[bool] | None:
    """The WHERE clause that resumes after `cursor` for a sort on `columns` (all ascending,
    or all `descending`)."""
    if cursor is None:
        return None
    values = decode_cursor(cursor, key_types(columns))
    return after(expressions(columns), values, descending)


def keyset_page(
    rows: Sequence[R], limit: int, key: Callable[[R], Sequence[object]]
) -> tuple[Sequence[R], str | None]:
    """The rows to show of ``limit + 1`` fetched (the extra one only says there is more),
    and the cursor of the next page (the sort key of the last row shown), if any."""
    kept = rows[:limit]
    more = len(rows) > limit
    return kept, encode_cursor(key(kept[-1])) if more and kept else None


def make_page(
    rows: Sequence[R], limit: int, key: Callable[[R], Sequence[object]], item: Callable[[R], T]
) -> Page[T]:
    """Build a page from ``limit + 1`` fetched rows (`keyset_page`)."""
    kept, next_cursor = keyset_page(rows, limit, key)
    return Page[T](items=[item(r) for r in kept], next_cursor=next_cursor)
