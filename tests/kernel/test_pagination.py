"""Opaque keyset cursors: round trip, tampering, and paging to the end."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from kernel.errors import BadRequest
from kernel.pagination import (
    after_keyset,
    decode_cursor,
    encode_cursor,
    key_types,
)
from kernel.reads import Keyset
from tests.kernel.toy_app import create_toy_app
from tests.support.apps import running


def test_cursor_round_trips_typed_sort_keys() -> None:
    key = [
        dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC),
        uuid.uuid4(),
        dt.date(2026, 1, 1),
        7,
        "x",
    ]
    types = [dt.datetime, uuid.UUID, dt.date, int, str]
    assert decode_cursor(encode_cursor(key), types) == key


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm90IGpzb24",
        encode_cursor([1, 2]),  # arity
        encode_cursor(["7"]),  # a string where the key is an integer
        encode_cursor([True]),  # a boolean is not an integer key
        encode_cursor([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]),  # nor a date-time
    ],
)
def test_bad_cursor_is_a_400(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(cursor, [int])


def test_key_types_come_from_the_sort_columns() -> None:
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid

    table = Table(
        "t",
        MetaData(),
        Column("n", Integer),
        Column("s", String),
        Column("u", Uuid),
        Column("d", DateTime(timezone=True)),
    )
    assert key_types([table.c.n, table.c.s, table.c.u, table.c.d]) == [
        int,
        str,
        uuid.UUID,
        dt.datetime,
    ]


def test_a_descending_sort_resumes_below_the_cursor() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    n = Table("t", MetaData(), Column("n", Integer)).c.n
    cursor = encode_cursor([7])
    ascending = after_keyset([n], cursor)
    descending = after_keyset([n], cursor, descending=True)
    assert ascending is not None
    assert descending is not None
    assert " > " in str(ascending)
    assert " < " in str(descending)
    # The same in a typed read's keyset, the values as parameters.
    assert " < " in str(Keyset((n,), descending=True).after())
    assert " > " in str(Keyset((n,)).after())


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_toy_app(database_url=database_url)) as c:  # type: ignore[arg-type]
        yield c


async def test_pages_cover_everything_once_and_end(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/numbers", params=params)).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 121))


async def test_limit_is_capped_and_bad_cursor_is_a_problem(client: httpx.AsyncClient) -> None:
    assert (await client.get("/numbers", params={"limit": 201})).status_code == 422
    resp = await client.get("/numbers", params={"cursor": "garbage!"})
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
