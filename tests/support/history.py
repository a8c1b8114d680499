"""What every app's history must hold to: the database refuses to rewrite it."""

from __future__ import annotations

import asyncpg
import pytest

from kernel.database import asyncpg_dsn


async def assert_append_only(database_url: str, table: str) -> None:
    """An UPDATE and a DELETE of a row of `table` (schema-qualified, holding one row at
    least) are refused, as the application's own role (the tests' database role is the
    one the apps use), and the row is still there, unchanged."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before = await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 (fixed names)
        assert before, f"{table} holds no row to try"
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute(f"UPDATE {table} SET id = id")  # noqa: S608
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute(f"DELETE FROM {table}")  # noqa: S608
        assert await conn.fetch(f"SELECT * FROM {table} ORDER BY 1") == before  # noqa: S608
    finally:
        await conn.close()
