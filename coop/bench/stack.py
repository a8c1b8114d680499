"""The benchmark's own database, and the suite as real server processes on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from coop import connections
from coop.apps import APPS, migration_trees
from coop.config_doc import build_settings
from coop.ports import free_port
from coop.stack import Stack
from coop.supervisor import wait_ready
from kernel.embedded_db import start_embedded, stop_embedded
from kernel.migrations import upgrade

BENCH_DATA_DIR = ".coop/bench-pgdata"
WORK_DIR = Path(".coop/bench")
BASELINE_FACTORY = "coop.bench.baseline:create_app"
T = TypeVar("T")


def ensure_database(scale: str, data_dir: str = BENCH_DATA_DIR) -> tuple[str, bool]:
    """(URL, embedded?): DATABASE_URL, else the bench's own embedded server and database.

    The embedded server lives in .coop/bench-pgdata, never `make run`'s data dir; each
    scale gets its own database so the smoke test never erases the national data set.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, False
    # Generated data: a data directory of an older PostgreSQL is made anew.
    url = start_embedded(data_dir, database=f"coop_bench_{scale}", recreate_other_major=True)
    return url, True


def connections_needed(env: Mapping[str, str], single_worker: list[str]) -> dict[str, int]:
    """The bench's PostgreSQL connections at most: the suite as `coop run` starts it, each
    service of `single_worker` once more (one worker: its whole budget) and the baseline
    (a pool per worker as large as a service worker's typed reads')."""
    needed = connections.suite_connections(env)
    for name in single_worker:
        needed[f"{name}-1"] = build_settings(APPS[name], env).db_connections
    budget = build_settings(APPS[single_worker[0]], env).db_budget()
    needed["baseline"] = budget.workers * budget.reads
    return needed


def stop_database(data_dir: str = BENCH_DATA_DIR) -> None:
    """Stop the embedded server `ensure_database` started (as `coop run` stops its own)."""
    with contextlib.suppress(Exception):
        stop_embedded(data_dir)


def on_database(scale: str, work: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    """`work(url)` run on the bench's database of `scale`, migrated (the embedded server
    it started stopped afterwards): the figures measured in this process."""
    url, embedded = ensure_database(scale)
    try:
        migrate(url)
        return asyncio.run(work(url))
    finally:
        if embedded:
            stop_database()


def migrate(url: str) -> list[str]:
    trees = migration_trees()
    for tree in trees:
        upgrade(tree, url)
    return trees


def baseline_argv(port: int) -> list[str]:
    """The baseline served by `kernel.server.serve`, as `coop serve` serves the apps."""
    return [sys.executable, "-m", "coop.cli", "bench", "baseline", "--port", str(port)]


def relay_argv(routes: dict[int, int]) -> list[str]:
    """The bare relay (`coop.bench.relay`), one listening port per service."""
    argv = [sys.executable, "-m", "coop.cli", "bench", "relay"]
    for listen, service in routes.items():
        argv += ["--route", f"{listen}={service}"]
    return argv


class BenchStack(Stack):
    """The suite wired and started as `coop run` does (`coop serve` per app; antivirus
    and rate limits off: clamd and the limiter are not what is measured), plus the
    baseline app and the bare relay."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url=database_url, work_dir=WORK_DIR, rate_limit=False)

    def start_baseline(self, env: dict[str, str], *, timeout: float = 60.0) -> str:
        """Start the baseline app (`coop.bench.baseline`) on the stack's database; its URL
        once it answers."""
        self.ports["baseline"] = free_port()
        child = self.spawn(
            "baseline",
            baseline_argv(self.ports["baseline"]),
            {
                **os.environ,
                "COOP_BENCH_BASELINE_DSN": self.database_url,
                "PYTHONUNBUFFERED": "1",
                **env,
            },
        )
        wait_ready(child, self.url("baseline") + "/healthz", timeout=timeout)
        return self.url("baseline")

    def start_single_worker(self, services: list[str], *, timeout: float = 90.0) -> None:
        """Each of `services` once more, with one worker (its URL: `<name>-1`), for the
        throughput at 1 and N workers side by side."""
        for name in services:
            spec = APPS[name]
            self.ports[f"{name}-1"] = port = free_port()
            env = {
                **os.environ,
                **self.env_for(spec),
                spec.env_prefix + "PORT": str(port),
                spec.env_prefix + "METRICS_PORT": str(free_port()),
            }
            child = self.spawn(f"{name}-1", [*spec.serve_argv(), "--workers", "1"], env)
            wait_ready(child, self.url(f"{name}-1") + spec.probe_path, timeout=timeout)

    def start_relay(self, services: list[str], *, timeout: float = 60.0) -> None:
        """Start the bare relay in front of each of `services` (its URL: `relay-<name>`),
        once every port answers (the service's own /healthz, relayed)."""
        routes = {}
        for name in services:
            self.ports[f"relay-{name}"] = port = free_port()
            routes[port] = self.ports[name]
        child = self.spawn("relay", relay_argv(routes), {**os.environ, "PYTHONUNBUFFERED": "1"})
        for name in services:
            wait_ready(child, self.url(f"relay-{name}") + "/healthz", timeout=timeout)
