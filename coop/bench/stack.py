"""The benchmark's own database and real uvicorn processes on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from coop.apps import APPS, migration_trees
from kernel.embedded_db import start_embedded, stop_embedded
from kernel.migrations import upgrade

BENCH_DATA_DIR = ".coop/bench-pgdata"
WORK_DIR = Path(".coop/bench")


def ensure_database(scale: str) -> tuple[str, bool]:
    """(URL, embedded?): DATABASE_URL, else the bench's own embedded server and database.

    The embedded server lives in .coop/bench-pgdata, never `make run`'s data dir; each
    scale gets its own database so the smoke test never erases the national data set.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, False
    return start_embedded(BENCH_DATA_DIR, database=f"coop_bench_{scale}"), True


def stop_database() -> None:
    with contextlib.suppress(Exception):
        stop_embedded(BENCH_DATA_DIR)


def migrate(url: str) -> list[str]:
    trees = migration_trees()
    for tree in trees:
        upgrade(tree, url)
    return trees


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    database_url: str
    procs: dict[str, Proc] = field(default_factory=dict)

    def start(self, name: str, factory: str, env: dict[str, str], port: int | None = None) -> Proc:
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        log = WORK_DIR / f"{name}.log"
        full_env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        proc = Proc(name, port, popen, log)
        self.procs[name] = proc
        return proc

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.procs)
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                for name, proc in list(pending.items()):
                    if proc.popen.poll() is not None:
                        raise RuntimeError(
                            f"{name} stopped at start-up (code {proc.popen.returncode}):\n"
                            + proc.log_tail()
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(proc.url + "/healthz").status_code == 200:
                            del pending[name]
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
                if pending:
                    time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=5)
        self.procs.clear()


def service_env(name: str, conventions_url: str | None) -> dict[str, str]:
    prefix = APPS[name].env_prefix
    env: dict[str, str] = {}
    if conventions_url:
        env[prefix + "CONVENTIONS_URL"] = conventions_url
    if name == "documents":
        # No clamd in the benchmark: the scan would measure clamd, not the platform.
        env[prefix + "ANTIVIRUS"] = "false"
        env[prefix + "STORAGE_ROOT"] = str((WORK_DIR / "documents").resolve())
    return env


def gateway_env(
    service_urls: dict[str, str], issuer: str, conventions_url: str | None
) -> dict[str, str]:
    env = {
        "COOP_GATEWAY_SERVICE_URLS": json.dumps(service_urls),
        "COOP_GATEWAY_OIDC_ISSUER": issuer,
        # The benchmark is one client sending thousands of requests per second.
        "COOP_GATEWAY_RATE_LIMIT_ENABLED": "false",
    }
    if conventions_url:
        env["COOP_GATEWAY_CONVENTIONS_URL"] = conventions_url
    return env


def idp_env(port: int) -> dict[str, str]:
    return {
        "COOP_IDP_KEY_DIR": str((WORK_DIR / "idp").resolve()),
        "COOP_IDP_PORT": str(port),
        "COOP_IDP_ISSUER": f"http://127.0.0.1:{port}",
    }
