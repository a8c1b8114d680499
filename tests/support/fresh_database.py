"""An empty database of its own, for tests of what a migration does to existing rows."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from kernel.database import asyncpg_dsn
from tests.conftest import _admin, _server_url


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database of its own: the session's is already at head."""
    server = _server_url()
    name = f"coop_migration_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def run_sql(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def sql(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    """`run_sql` from a synchronous test (migrations run their own loop)."""
    return asyncio.run(run_sql(url, statement, *args))
