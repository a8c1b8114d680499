"""kernel.reads: hot reads declared once, compiled once per variant, typed rows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NamedTuple

import pytest
from pydantic import BaseModel
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
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, composite, mapped_column

from kernel.database import ReadPool, asyncpg_dsn, create_read_sessionmaker, create_sessionmaker
from kernel.errors import BadRequest, ServiceUnavailable
from kernel.json_response import ResponseFields
from kernel.reads import Compiled, Keyset, Read, columns, row_from

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


class Thing(NamedTuple):
    label: str
    rank: int


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
async def read_pool(database_url: str) -> Any:
    pool = await ReadPool.open(database_url, size=1, acquire_timeout=0.2)
    yield pool
    await pool.close()


def _owned() -> Read[Thing, None]:
    return Read(
        Thing,
        lambda part: part.apply(
            select(*columns(Thing, things))
            .where(things.c.owner_id == any_(bindparam("owners", type_=ARRAY(Uuid))))
            .where(things.c.label != "hidden")  # a constant: compiled in, not a parameter
        ),
        variants=(None,),
        filters={"rank": lambda value: things.c.rank == value},
        keyset=Keyset((things.c.label,)),
    )


async def test_one_declaration_serves_every_call_with_its_own_values_and_filters(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    query = _owned()
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        a = await query.page(session, None, {"owners": [OWNER_A]}, limit=10)
        first = await query.page(session, None, {"owners": [OWNER_A, OWNER_B]}, limit=2)
        rest = await query.page(
            session, None, {"owners": [OWNER_A, OWNER_B]}, limit=2, cursor=first.next_cursor
        )
        ranked = await query.page(session, None, {"owners": [OWNER_A], "rank": 2}, limit=5)
        none = await query.page(session, None, {"owners": [uuid.uuid4()]}, limit=1)
    assert a.rows == [Thing("a1", 1), Thing("a2", 2)]
    assert a.next_cursor is None
    assert [r.label for r in first.rows] == ["a1", "a2"]
    assert first.next_key == ("a2",)
    assert rest.rows == [Thing("b1", 1)]
    assert rest.next_key is None
    assert ranked.rows == [Thing("a2", 2)]  # the optional filter, given
    assert none.rows == []
    # One statement per variant used: no filter or the rank's, first page or resumed.
    assert query.compiled_variants == {
        (None, (), False),
        (None, (), True),
        (None, ("rank",), False),
    }
    with pytest.raises(BadRequest):  # a forged cursor is the client's error, not a 500
        async with create_read_sessionmaker(db_engine, read_pool)() as session:
            await query.page(session, None, {"owners": [OWNER_A]}, limit=1, cursor="x")


async def test_statement_listeners_see_the_typed_reads(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    seen: list[tuple[str, list[object]]] = []
    read_pool.listeners.append(lambda sql, arguments: seen.append((sql, list(arguments))))
    query = _owned()
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        await query.page(session, None, {"owners": [OWNER_B]}, limit=5)
    compiled = query.compiled(None, {}, False)
    assert seen == [(compiled.sql, [[OWNER_B], "hidden", 6])]


async def test_in_a_write_session_a_read_runs_in_its_transaction(
    db_engine: AsyncEngine, rows: None
) -> None:
    # A write request's session has a transaction of SQLAlchemy's: the read joins it.
    async with create_sessionmaker(db_engine)() as session:
        await session.execute(things.update().values(rank=7))
        found = await _owned().page(session, None, {"owners": [OWNER_A]}, limit=1)
        await session.rollback()
    assert found.rows == [Thing("a1", 7)]


async def test_a_read_session_borrows_one_connection_and_gives_it_back_on_close(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    query = _owned()
    params = {"owners": [OWNER_A]}
    reads = create_read_sessionmaker(db_engine, read_pool)
    async with reads() as first:
        await query.page(first, None, params, limit=1)
        await query.page(first, None, params, limit=1)  # same connection: not asked again
        async with reads() as second:
            # The only connection is lent out: a clear 503 once the wait is over.
            with pytest.raises(ServiceUnavailable) as refused:
                await query.page(second, None, params, limit=1)
            assert refused.value.status == 503
            assert refused.value.headers["Retry-After"] == "1"
    async with reads() as third:  # given back when `first` closed
        assert [r.label for r in (await query.page(third, None, params, limit=1)).rows] == ["a1"]


async def test_closing_the_pool_does_not_wait_for_ever_for_a_connection_never_given_back(
    db_engine: AsyncEngine, read_pool: ReadPool
) -> None:
    kept: Any = await read_pool.acquire()  # a request that never gave it back
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


class Extra(NamedTuple):
    extra: dict[str, list[object]] | None


async def test_json_columns_come_back_decoded(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(things.update().values(extra={"k": ["é", 1]}))
    query = Read(
        Extra,
        lambda part: select(*columns(Extra, things)).where(things.c.label != bindparam("n")),
        variants=(None,),
    )
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        found = await query.all(session, None, {"n": "none"})
    assert found == [Extra({"k": ["é", 1]})] * 3


def test_refuses_statements_that_would_run_wrong() -> None:
    with pytest.raises(ValueError, match="ANY"):
        Compiled.of(select(things.c.id).where(things.c.label.in_(["a", "b"])))
    # An id written into the statement would be baked into every later call.
    with pytest.raises(ValueError, match="bindparam"):
        Compiled.of(select(things.c.id).where(things.c.owner_id == OWNER_A))
    with pytest.raises(KeyError):
        _owned().compiled(None, {}, False).arguments({"limit": 1})
    # A row type that is not what the statement selects.
    wrong = Read(Thing, lambda part: select(things.c.rank, things.c.label), variants=(None,))
    with pytest.raises(TypeError, match="Thing"):
        wrong.compiled(None, {}, False)


def test_bind_processors_apply() -> None:
    # As SQLAlchemy would bind them: a JSON value travels as its text.
    query = Compiled.of(select(things.c.id).where(things.c.extra == bindparam("doc", type_=JSONB)))
    assert query.arguments({"doc": {"k": "é"}})[0] in ('{"k": "é"}', '{"k": "\\u00e9"}')
    # A constant too, once.
    constant = Compiled.of(select(things.c.id).where(things.c.extra == literal({"k": 1}, JSONB)))
    assert constant.arguments({}) == ['{"k": 1}']


class Owner(NamedTuple):
    id: uuid.UUID
    label: str


class Pair(NamedTuple):
    thing: Thing
    # The outer join's missing side: None when all its columns are NULL.
    other: Owner | None


async def test_a_group_of_columns_is_a_row_and_none_for_a_missing_outer_join_side(
    db_engine: AsyncEngine, read_pool: ReadPool, rows: None
) -> None:
    other = things.alias("other")
    query = Read(
        Pair,
        lambda part: (
            select(*columns(Pair, thing=things, other=other))
            .select_from(things)
            .outerjoin(other, (other.c.rank == things.c.rank) & (other.c.id != things.c.id))
            .order_by(things.c.label)
        ),
        variants=(None,),
    )
    async with create_read_sessionmaker(db_engine, read_pool)() as session:
        found = await query.all(session, None, {})
    assert [(p.thing.label, p.other and p.other.label) for p in found] == [
        ("a1", "b1"),
        ("a2", None),
        ("b1", "a1"),
    ]


def test_a_write_answer_makes_the_same_row_of_an_object() -> None:
    class Obj:
        label = "x"
        rank = 3
        other = "ignored"

    assert row_from(Thing, Obj()) == Thing("x", 3)
    assert row_from(Thing, Obj(), rank=4) == Thing("x", 4)


def test_the_read_pool_reads_the_url_the_engine_reads() -> None:
    assert (
        asyncpg_dsn("postgresql+asyncpg://u:p%40ss@h:5433/db?ssl=disable")
        == "postgresql://u:p%40ss@h:5433/db?sslmode=disable"
    )
    assert (
        asyncpg_dsn("postgresql+asyncpg://pg@/db?host=/run/pg")
        == "postgresql://pg@/db?host=%2Frun%2Fpg"  # asyncpg decodes it
    )


class Span(NamedTuple):
    start: int
    end: int

    def __composite_values__(self) -> tuple[object, ...]:
        return tuple(self)


class _Base(DeclarativeBase):
    metadata = MetaData()


class Booking(_Base):
    """A model with composites: column groups read and written as one value."""

    __tablename__ = "compiled_query_bookings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    span_start: Mapped[int] = mapped_column(Integer)
    span_end: Mapped[int] = mapped_column(Integer)
    held_start: Mapped[int | None] = mapped_column(Integer)
    held_end: Mapped[int | None] = mapped_column(Integer)
    span: Mapped[Span] = composite(Span, "span_start", "span_end")
    held: Mapped[Span | None] = composite(
        Span, "held_start", "held_end", return_none_on=lambda *v: all(x is None for x in v)
    )


class BookingRow(NamedTuple):
    id: int
    span: Span
    held: Span | None


async def test_a_composite_is_read_as_a_group_and_taken_as_one_by_a_write_answer(
    db_engine: AsyncEngine, read_pool: ReadPool
) -> None:
    """A model's composite is its row's group: selected by its name (its columns in
    order), None when its columns all are NULL, and a write's answer (`row_from`) takes
    it as it is, the same row as the read's."""
    query = Read(
        BookingRow,
        lambda part: select(*columns(BookingRow, Booking)).order_by(Booking.id),
        variants=(None,),
    )
    async with db_engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    try:
        async with create_sessionmaker(db_engine)() as session:
            session.add_all(
                [Booking(id=1, span=Span(1, 2), held=Span(3, 4)), Booking(id=2, span=Span(5, 6))]
            )
            await session.commit()
            written = [row_from(BookingRow, b) for b in await session.scalars(select(Booking))]
        async with create_read_sessionmaker(db_engine, read_pool)() as session:
            found = await query.all(session, None, {})
    finally:
        async with db_engine.begin() as conn:
            await conn.run_sync(_Base.metadata.drop_all)
    assert found == [BookingRow(1, Span(1, 2), Span(3, 4)), BookingRow(2, Span(5, 6), None)]
    assert sorted(written) == found


class SpanOut(BaseModel):
    start: int
    end: int


class BookingOut(BaseModel):
    id: int
    span: SpanOut
    held: SpanOut | None
    nights: int


def test_a_group_is_written_as_its_nested_model() -> None:
    fields = ResponseFields(BookingOut, BookingRow, derived=("nights",))
    assert fields(BookingRow(1, Span(1, 2), None), nights=1) == {
        "id": 1,
        "span": {"start": 1, "end": 2},
        "held": None,
        "nights": 1,
    }
    assert fields(BookingRow(1, Span(1, 2), Span(3, 4)), nights=1)["held"] == {
        "start": 3,
        "end": 4,
    }


def test_a_group_shown_as_anything_but_a_model_is_refused() -> None:
    class Flat(BaseModel):
        id: int
        span: list[int]
        held: None

    with pytest.raises(TypeError, match="modèle imbriqué"):
        ResponseFields(Flat, BookingRow)
