"""Embedded PostgreSQL for development and tests (the `pgserver` package).

Development only: production mode refuses to run without a database URL.
Several processes may share one data directory; pgserver reference-counts it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DEFAULT_DATABASE = "coop"


def _ensure_runtime_dir() -> None:
    # pgserver asks platformdirs for a runtime dir; give it one instead of a warning.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(".coop/runtime").resolve()
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded(data_dir: str, database: str = DEFAULT_DATABASE) -> str:
    """Start (or join) the embedded server and return an asyncpg URL to `database`."""
    _ensure_runtime_dir()
    import pgserver  # type: ignore[attr-defined,unused-ignore]  # lazily: heavy, development only

    if not database.replace("_", "").isalnum():
        raise ValueError(f"invalid database name: {database!r}")
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 (name checked above)
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return socket_url(server.get_uri(), database)


def socket_url(uri: str, database: str) -> str:
    """pgserver gives ``postgresql://postgres:@/postgres?host=/dir``; build ours from it."""
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    if host:
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"


def stop_embedded(data_dir: str) -> bool:
    """Stop the embedded server of `data_dir` if it runs (its data stays for next time).

    True when one was running. Through pg_ctl: a pgserver handle's cleanup() does nothing
    in the process that started the server (``cleanup_mode=None`` in `start_embedded`)."""
    import contextlib
    import subprocess

    path = Path(data_dir).resolve()
    if not (path / "postmaster.pid").exists():
        return False  # pgserver.get_server would start it, only to stop it again
    _ensure_runtime_dir()
    import pgserver  # type: ignore[attr-defined,unused-ignore]

    server = pgserver.get_server(path, cleanup_mode=None)
    with contextlib.suppress(subprocess.CalledProcessError):  # stopped meanwhile
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    return True
