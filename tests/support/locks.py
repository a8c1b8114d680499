"""Waiting, in a test, for a backend to queue on a lock the code under test takes."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_WAITING_ON_ADVISORY = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()"
)


async def until_waiting_on_a_lock(engine: AsyncEngine, what: str) -> None:
    """Until a backend of this database waits on an advisory lock (bounded: 5 s)."""
    for _ in range(500):
        async with engine.connect() as conn:
            if (await conn.execute(_WAITING_ON_ADVISORY)).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never waited on the lock")
