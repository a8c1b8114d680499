"""Test database: real PostgreSQL, migrated once per run, emptied after each test.

`TEST_DATABASE_URL` (a server URL; a fresh database is created on it) or, by default,
the embedded PostgreSQL under .coop/test-pgdata. Each pytest process gets its own
database, so several runs, and the workers of one (pytest-xdist, `make test`), share
one server.

Parallel runs (`-n 2 --dist loadgroup`, see the Makefile): a module that builds a world
for its tests (a fixture of module scope, or of session scope that only it uses) is one
xdist group, `xdist_group` marked in the module, so one worker builds it once; the
other tests are spread one by one. Modules marked `slow` are handed out first.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.apps import migration_trees
from kernel.database import asyncpg_dsn, asyncpg_url, create_engine
from kernel.embedded_db import start_embedded
from kernel.job_queue import JOBS_SCHEMA
from kernel.migrations import upgrade


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return asyncpg_url(url)
    # Disposable: a data directory of an older PostgreSQL is made anew.
    return start_embedded(".coop/test-pgdata", database="postgres", recreate_other_major=True)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a `slow` test first (each module's tests kept together and in
    order): with workers, the long ones start at once and the short ones fill the tail."""
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}  # type: ignore[attr-defined]
    items.sort(key=lambda item: getattr(item, "module", None) not in slow_modules)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Whatever a test (or code it calls in-process, such as a CLI command) puts in
    os.environ is gone after it; session fixtures set theirs before any test runs."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def fresh_database(prefix: str = "coop_test") -> Iterator[str]:
    """A new database on the test server, every app's migrations applied; dropped
    when the block ends."""
    server = _server_url()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        for tree in migration_trees():
            upgrade(tree, url)
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        os.environ["DATABASE_URL"] = url
        yield url


@pytest.fixture(scope="session")
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


# The job queue's tables are left out: they are the worker's (tests/e2e keeps a `coop
# worker` running across tests, whose deferrals lock them in their own order), and
# tests tell their jobs apart by name and id (tests/kernel/test_job_queue.py).
_TABLES_SQL = """
    SELECT quote_ident(schemaname) || '.' || quote_ident(tablename)
    FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'public', $1)
      AND tablename <> 'alembic_version'
"""


_NON_EMPTY_SQL: dict[str, str] = {}
_TRUNCATE_ATTEMPTS = 5


async def truncate_written_tables(url: str) -> None:
    """Empty the tables the test wrote to: find them in one query, truncate only them.

    (Truncating every table of every app after each test cost more than the tests.)
    """
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if url not in _NON_EMPTY_SQL:
            tables = [row[0] for row in await conn.fetch(_TABLES_SQL, JOBS_SCHEMA)]
            _NON_EMPTY_SQL[url] = " UNION ALL ".join(
                # Names come from pg_tables, already quoted by quote_ident.
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})"  # noqa: S608
                for t in tables
            )
        if not _NON_EMPTY_SQL[url]:
            return
        for attempt in range(_TRUNCATE_ATTEMPTS):
            written = [row[0] for row in await conn.fetch(_NON_EMPTY_SQL[url])]
            if not written:
                return
            try:
                await conn.execute(f"TRUNCATE {', '.join(written)} RESTART IDENTITY CASCADE")
                return
            except asyncpg.DeadlockDetectedError:
                # A `coop worker` still running (tests/e2e) writes several of an app's
                # tables in one transaction (the notifications' following of a feed:
                # events acted on, notifications, e-mails, cursor) in its own order,
                # while TRUNCATE locks them in its list's: PostgreSQL may abort the
                # TRUNCATE. Nothing was truncated; the job's transaction is over.
                if attempt == _TRUNCATE_ATTEMPTS - 1:
                    raise
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the database leaves its tables empty (one TRUNCATE).

    Synchronous on purpose: it runs outside the tests' event loop, on its own connection.
    """
    if "database_url" not in request.fixturenames:
        yield
        return
    url: str = request.getfixturevalue("database_url")
    yield
    asyncio.run(truncate_written_tables(url))


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A directory for a test's own embedded PostgreSQL, under .coop/ rather than pytest's
    tmp_path: the server runs as another user when tests run as root, and every pytest
    session started meanwhile (several worktrees share the machine) makes
    /tmp/pytest-of-root private again, cutting that user off its data directory."""
    # Short: a socket path past 107 bytes would move the socket to the runtime dir.
    path = Path(".coop/scratch") / secrets.token_hex(4)
    path.mkdir(parents=True)
    try:
        yield path.resolve()
    finally:
        shutil.rmtree(path, ignore_errors=True)
