"""kernel.database.CompiledQuery: the hot reads' statements, compiled once, on asyncpg."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import (
    ARRAY,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    any_,
    bindparam,
    event,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import (
    CompiledQuery,
    ReadPool,
    asyncpg_dsn,
    attribute_rows,
    create_read_sessionmaker,
    create_sessionmaker,
)
from kernel.errors import ServiceUnavailable

metadata = MetaData()
things = Table(
    "compiled_query_things",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("label", String(20), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("extra", JSONB, nullable=True),
)
OWNER_A, OWNER_B = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
async def rows(db_engine: AsyncEngine) -> Any:
    async with db_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            things.insert(),
            [
                {"id": uuid.uuid4(), "owner_id": OWNER_A, "label": "a1", "rank": 1},
                {"id": uuid.uuid4(), "owner_id": OWNER_A, "label": "a2", "rank": 2},
                {"id": uuid.uuid4(), "owner_id": OWNER_B, "label": "b1", "rank": 1},
            ],
        )
    yield
    async with db_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


@pytest.fixture
async def read_pool(database_url: str, db_engine: AsyncEngine) -> Any:
    pool = await ReadPool.open(database_url, db_engine, size=1, acquire_timeout=0.2)
    yield pool
    await pool.close()


def _owned() -> CompiledQuery:
    stmt = (
        select(things.c.label, things.c.rank)
        .where(things.c.owner_id == any_(bindparam("owners", type_=ARRAY(Uuid))))
        .where(things.c.label != "hidden")  # a constant: compiled in, not a parameter
        .order_by(things.c.label)
        .limit(bindparam("limit"))
    )
    return CompiledQuery(stmt)


async def test_one_compiled_statement_serves_every_call_with_its_own_values(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    query = _owned()
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        a = await query.fetch(session, {"owners": [OWNER_A], "limit": 10})
        both = await query.fetch(session, {"owners": [OWNER_A, OWNER_B], "limit": 2})
        none = await query.fetchrow(session, {"owners": [uuid.uuid4()], "limit": 1})
    assert [(r["label"], r["rank"]) for r in a] == [("a1", 1), ("a2", 2)]
    assert [r["label"] for r in both] == ["a1", "a2"]
    assert none is None


async def test_statement_listeners_see_the_compiled_reads(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def hook(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        seen.append((statement, params))

    query = _owned()
    event.listen(db_engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with create_read_sessionmaker(db_engine, read_pool)() as session:
            await query.fetch(session, {"owners": [OWNER_B], "limit": 5})
    finally:
        event.remove(db_engine.sync_engine, "before_cursor_execute", hook)
    assert seen == [(query.sql, ([OWNER_B], "hidden", 5))]


async def test_refused_outside_read_sessions(db_engine: AsyncEngine, rows: None) -> None:
    # A write request's session has a transaction of SQLAlchemy's it could not join.
    async with create_sessionmaker(db_engine)() as session:
        with pytest.raises(RuntimeError, match="read sessions"):
            await _owned().fetch(session, {"owners": [OWNER_A], "limit": 1})


async def test_a_read_session_borrows_one_connection_and_gives_it_back_on_close(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    query = _owned()
    params = {"owners": [OWNER_A], "limit": 1}
    reads = create_read_sessionmaker(db_engine, read_pool)
    async with reads() as first:
        await query.fetch(first, params)
        await query.fetch(first, params)  # same connection: the pool of one is not asked again
        async with reads() as second:
            # The only connection is lent out: a clear 503 once the wait is over.
            with pytest.raises(ServiceUnavailable) as refused:
                await query.fetch(second, params)
            assert refused.value.status == 503
            assert refused.value.headers["Retry-After"] == "1"
    async with reads() as third:  # given back when `first` closed
        assert [r["label"] for r in await query.fetch(third, params)] == ["a1"]


async def test_closing_the_pool_does_not_wait_for_ever_for_a_connection_never_given_back(
    db_engine: AsyncEngine, read_pool: ReadPool
) -> None:
    kept = await read_pool.acquire()  # a request that never gave it back
    backend = kept.get_server_pid()
    # Bounded by the test too: a close that waits for `kept` fails here, not hangs.
    await asyncio.wait_for(read_pool.close(within=0.1), 5.0)
    for _ in range(50):  # the server ends the backend once it sees the socket closed
        async with db_engine.connect() as conn:
            alive = await conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
            )
        if not alive:
            break
        await asyncio.sleep(0.02)
    assert alive == 0


async def test_json_columns_come_back_decoded(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(things.update().values(extra={"k": ["é", 1]}))
    query = CompiledQuery(
        select(things.c.extra).where(things.c.extra["k"][1].astext == bindparam("n"))
    )
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        found = await query.fetch(session, {"n": "1"})
    assert [r["extra"] for r in found] == [{"k": ["é", 1]}] * 3


def test_refuses_statements_that_would_run_wrong() -> None:
    with pytest.raises(ValueError, match="ANY"):
        CompiledQuery(select(things.c.id).where(things.c.label.in_(["a", "b"])))
    # An id written into the statement would be baked into every later call.
    with pytest.raises(ValueError, match="bindparam"):
        CompiledQuery(select(things.c.id).where(things.c.owner_id == OWNER_A))
    with pytest.raises(KeyError):
        _owned().arguments({"limit": 1})


def test_bind_processors_apply() -> None:
    # As SQLAlchemy would bind them: a JSON value travels as its text.
    doc = bindparam("doc", type_=JSONB)
    query = CompiledQuery(select(things.c.id).where(things.c.label == doc["k"].astext))
    assert query.arguments({"doc": {"k": "é"}})[0] in ('{"k": "é"}', '{"k": "\\u00e9"}')


def test_attribute_rows_split_a_row_and_tell_a_missing_outer_join_side() -> None:
    row = ("conv-1", "Voiron", None, None, "extra")
    convention, signataire = attribute_rows(row, ["id", "titre"], ["nom", "role"])
    assert (convention.id, convention.titre) == ("conv-1", "Voiron")
    assert signataire is None  # all NULL: the outer join found nothing
    (partly,) = attribute_rows((None, "x"), ["a", "b"])
    assert (partly.a, partly.b) == (None, "x")  # one NULL column is still a row


def test_the_read_pool_reads_the_url_the_engine_reads() -> None:
    assert (
        asyncpg_dsn("postgresql+asyncpg://u:p%40ss@h:5433/db?ssl=disable")
        == "postgresql://u:p%40ss@h:5433/db?sslmode=disable"
    )
    assert (
        asyncpg_dsn("postgresql+asyncpg://pg@/db?host=/run/pg")
        == "postgresql://pg@/db?host=%2Frun%2Fpg"  # asyncpg decodes it
    )
