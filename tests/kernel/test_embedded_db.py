"""The embedded PostgreSQL of development and tests: its version, its extensions, and what
it does with a data directory written by the previous major version (pgserver's 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from kernel.database import asyncpg_dsn
from kernel.embedded_db import (
    MAX_CONNECTIONS,
    STARTUP_TIMEOUT_SECONDS,
    EmbeddedDatabaseError,
    data_dir_major,
    server_major,
    start_embedded,
    stop_embedded,
)


async def test_search_extensions_are_creatable_and_work(database_url: str) -> None:
    """The search work to come needs unaccent and pg_trgm; pg_stat_statements is preloaded."""
    server = make_url(database_url)
    scratch = f"{server.database}_ext"
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        conn = await asyncpg.connect(asyncpg_dsn(str(server.set(database=scratch))))
        try:
            for extension in ("unaccent", "pg_trgm", "pg_stat_statements"):
                await conn.execute(f"CREATE EXTENSION {extension}")
            assert await conn.fetchval("SELECT unaccent('Élaboration du schéma')") == (
                "Elaboration du schema"
            )
            assert await conn.fetchval("SELECT similarity('Saint-Étienne', 'saint etienne')") > 0.3
            # Readable only when the library is loaded at start-up, not merely created.
            assert await conn.fetchval("SELECT count(*) FROM pg_stat_statements") >= 0
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()


def _start_in_subprocess(data_dir: Path, database: str) -> subprocess.Popen[str]:
    code = (
        "import sys; from kernel.embedded_db import start_embedded; "
        "print(start_embedded(sys.argv[1], database=sys.argv[2], recreate_other_major=True))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir), database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
async def test_a_previous_major_data_dir_is_refused_for_development_and_remade_for_tests(
    cluster_dir: Path,
) -> None:
    """Every developer has PostgreSQL 16 data directories from pgserver: `make run`'s is
    refused with what to do (its data is theirs), the tests' is made anew, even when its
    old server still runs, and processes starting together share the new server."""
    data_dir = cluster_dir / "pgdata"
    start_embedded(str(data_dir))
    try:
        old_pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        # The running cluster now looks like one PostgreSQL 16 wrote.
        (data_dir / "PG_VERSION").write_text("16\n")

        with pytest.raises(EmbeddedDatabaseError) as refused:
            start_embedded(str(data_dir))
        message = str(refused.value)
        assert "PostgreSQL 16" in message
        assert f"PostgreSQL {server_major()}" in message
        assert "make clean-data" in message
        assert data_dir_major(data_dir) == 16, "the developer's directory was touched"
        assert int((data_dir / "postmaster.pid").read_text().splitlines()[0]) == old_pid

        starting = [_start_in_subprocess(data_dir, f"essai_{n}") for n in range(2)]
        urls = []
        for process in starting:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            urls.append(out.strip())
        assert data_dir_major(data_dir) == server_major()
        assert int((data_dir / "postmaster.pid").read_text().splitlines()[0]) != old_pid
        for n, url in enumerate(urls):
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                assert await conn.fetchval("SELECT current_database()") == f"essai_{n}"
                version = int(await conn.fetchval("SHOW server_version_num"))
                assert version // 10000 == server_major()
                assert await conn.fetchval("SHOW shared_preload_libraries") == (
                    "pg_stat_statements"
                )
                assert int(await conn.fetchval("SHOW max_connections")) == MAX_CONNECTIONS
            finally:
                await conn.close()
    finally:
        stop_embedded(str(data_dir))
    assert not (data_dir / "postmaster.pid").exists()


@pytest.mark.slow
async def test_a_server_slower_to_start_than_the_package_waits_for_is_joined(
    cluster_dir: Path,
) -> None:
    """The package gives `pg_ctl start` 10 s; on a loaded machine (parallel test workers,
    a shared CI host) PostgreSQL may take longer to accept connections, and is starting
    fine: start_embedded waits for it rather than failing. Here the server's start is
    made slow on purpose: an archive recovery whose first restore takes 11 s."""
    data_dir = cluster_dir / "pgdata"
    url = start_embedded(str(data_dir))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Run by the server in its data directory, as the server's own user.
        await conn.execute(
            "ALTER SYSTEM SET restore_command = "
            "'test -e slept || { touch slept; sleep 11; }; exit 1'"
        )
        # No read-only connections during the recovery: ready means writable.
        await conn.execute("ALTER SYSTEM SET hot_standby = off")
        # As a cluster made before the suite needed more connections.
        await conn.execute("ALTER SYSTEM SET max_connections = 100")
    finally:
        await conn.close()
    stop_embedded(str(data_dir))
    (data_dir / "recovery.signal").touch()
    try:
        # Another process: this one's package keeps its handle on the stopped server.
        started = _start_in_subprocess(data_dir, "lent")
        out, err = started.communicate(timeout=STARTUP_TIMEOUT_SECONDS)
        assert started.returncode == 0, err
        assert (data_dir / "slept").exists(), "the start was not the slow one"
        conn = await asyncpg.connect(asyncpg_dsn(out.strip()))
        try:
            assert await conn.fetchval("SELECT current_database()") == "lent"
            assert int(await conn.fetchval("SHOW max_connections")) == MAX_CONNECTIONS, (
                "not set on start"
            )
            assert await conn.fetchval("SHOW shared_preload_libraries") == "pg_stat_statements"
        finally:
            await conn.close()
    finally:
        stop_embedded(str(data_dir))
