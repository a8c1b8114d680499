"""Numbers visible in commit order (kernel.commit_order), on the real database: two
writers at once, readers between and after their commits.

The probe's table and sequence live in `public` (no app's schema: the tests' TRUNCATE
leaves it alone), its function made as the migrations' helper makes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import Sequence, column, insert, select, table, text, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.commit_order import CommitOrder
from kernel.database import create_engine, create_sessionmaker
from kernel.migrations import next_change_seq_body, next_change_seq_sql
from services.actions.models import CHANGES as ACTIONS_CHANGES
from services.notifications.models import CHANGES as NOTIFICATIONS_CHANGES
from tests.support.locks import until_waiting_on_a_lock

LOCK = "coop.test.commit_order"
PROBE_SEQ = Sequence("probe_seq", schema="public")
probe = table("probe", column("seq"), column("par"), schema="public")

# How a writer numbers its row: the Python path (lock, then the sequence), the schema's
# SQL function called from Python, the column's default (the same function).
WITH_SEQUENCE = CommitOrder(LOCK, PROBE_SEQ)
WITH_FUNCTION = CommitOrder(LOCK, function="public.next_change_seq")


async def _numbered(order: CommitOrder, session: AsyncSession, par: str) -> int:
    seq = await order.next(session)
    await session.execute(insert(probe).values(seq=seq, par=par))
    return seq


async def _by_default(session: AsyncSession, par: str) -> int:
    inserted = await session.execute(insert(probe).values(par=par).returning(probe.c.seq))
    return int(inserted.scalar_one())


Writer = Callable[[AsyncSession, str], Awaitable[int]]
WRITERS: dict[str, Writer] = {
    "sequence": lambda s, par: _numbered(WITH_SEQUENCE, s, par),
    "function": lambda s, par: _numbered(WITH_FUNCTION, s, par),
    "default": _by_default,
}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SEQUENCE public.probe_seq"))
        await conn.execute(text(next_change_seq_sql("public", LOCK, "probe_seq")))
        await conn.execute(
            text(
                "CREATE TABLE public.probe ("
                " seq bigint NOT NULL DEFAULT public.next_change_seq(), par text NOT NULL)"
            )
        )
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE public.probe"))
            await conn.execute(text("DROP FUNCTION public.next_change_seq()"))
            await conn.execute(text("DROP SEQUENCE public.probe_seq"))
        await engine.dispose()


async def _seen(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(probe.c.seq, probe.c.par).order_by(probe.c.seq))
        return [(int(seq), str(par)) for seq, par in rows]


@pytest.mark.parametrize(
    ("first_way", "second_way"),
    [("sequence", "default"), ("default", "function"), ("function", "sequence")],
)
async def test_a_reader_never_sees_a_number_before_a_smaller_one_is_committed(
    engine: AsyncEngine, first_way: str, second_way: str
) -> None:
    """The first writer draws and stays open; the second draws (a larger number) and
    would commit first: it waits for the lock instead, so a reader between the commits
    sees the first's number alone, then both, in number order. Every way of drawing is
    the one lock (the Python path and the SQL function exclude each other)."""
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as first, sessionmaker() as second:
        n1 = await WRITERS[first_way](first, "first")
        drawing = asyncio.ensure_future(WRITERS[second_way](second, "second"))
        await until_waiting_on_a_lock(engine, "the second writer")
        assert not drawing.done()
        assert await _seen(engine) == []
        await first.commit()
        n2 = await drawing
        assert n2 > n1
        assert await _seen(engine) == [(n1, "first")]
        await second.commit()
    assert await _seen(engine) == [(n1, "first"), (n2, "second")]


async def test_the_position_is_read_after_the_writers_holding_numbers_commit(
    engine: AsyncEngine,
) -> None:
    """A sync token is the sequence's position: read under the lock taken shared, it
    waits for the writer holding a drawn number, so a token never passes a row still to
    commit."""
    position = table("probe_seq", column("last_value"), schema="public")
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as writer, sessionmaker() as reader:
        drawn = await WITH_SEQUENCE.next(writer)

        async def read_position() -> int:
            stmt = select(position.c.last_value).select_from(
                position.join(WITH_SEQUENCE.committed_writers(), true())
            )
            value = int((await reader.execute(stmt)).scalar_one())
            await reader.commit()
            return value

        token = asyncio.create_task(read_position())
        await until_waiting_on_a_lock(engine, "the reader of the position")
        assert not token.done()
        await writer.commit()
        assert await token >= drawn


@pytest.mark.parametrize(
    ("schema", "order"), [("actions", ACTIONS_CHANGES), ("notifications", NOTIFICATIONS_CHANGES)]
)
async def test_the_apps_sql_functions_draw_under_their_orders_lock(
    db_engine: AsyncEngine, schema: str, order: CommitOrder
) -> None:
    """The actions' and notifications' `next_change_seq()` (their migrations wrote them
    before the kernel's helper) are the helper's function for their order's lock: the
    columns' default and the apps' Python code take one lock."""
    async with db_engine.connect() as conn:
        source = await conn.scalar(
            text("SELECT prosrc FROM pg_proc WHERE oid = CAST(:name AS regprocedure)"),
            {"name": f"{schema}.next_change_seq()"},
        )
    assert isinstance(order.lock, str)
    assert source is not None
    assert source.split() == next_change_seq_body(schema, order.lock).split()
