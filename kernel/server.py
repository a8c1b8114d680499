"""How every app is served: granian, configured through its public options only.

granian rather than uvicorn for what the product needs of its server: a time limit on
reading a request's headers (a client sending them a byte at a time no longer holds a
connection), a limit on their size and count (431), sending a file from disk without
its bytes going through Python (ASGI `http.response.pathsend`: document downloads),
and several worker processes sharing the listening socket. uvicorn has workers, but no
header-read timeout, no header size or count limit and no pathsend.

`serve()` runs the app's N workers (`coop serve APP --workers N`, default: the
machine's cores, at most 4) and, in the parent process, the Prometheus exporter on
the app's internal metrics address (never the public port): every worker writes its
metrics to a per-run directory (prometheus-client's multiprocess mode), the exporter
adds them up. A body that stops arriving is the app's to time out
(`kernel.slow_clients`): granian has no body idle timeout.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from kernel.settings import MAX_DEFAULT_WORKERS, CommonSettings, default_workers

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_log = logging.getLogger("coop.server")
__all__ = ["MAX_DEFAULT_WORKERS", "default_workers", "metrics_port", "serve"]


def metrics_port(settings: CommonSettings) -> int:
    """The internal metrics port: the setting, else the app's port + 1000."""
    return settings.metrics_port if settings.metrics_port is not None else settings.port + 1000


@contextlib.contextmanager
def _metrics_exporter(host: str, port: int, directory: str) -> Iterator[None]:
    """Prometheus' own HTTP exporter over every worker's files, in a thread of this
    (the parent) process. Imported here, once the multiprocess directory is set."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)


def serve(
    factory: str,
    settings: CommonSettings,
    *,
    env_prefix: str,
    port: int | None = None,
    workers: int | None = None,
    database: bool = True,
) -> None:
    """Serve the app `factory` ("module:callable") with `workers` processes (else the
    setting, else `default_workers()`). `env_prefix` is the app's settings prefix: the
    worker count is passed to the workers' settings through it (rate limits and the
    database connections are shared out by it). `database`: the app uses PostgreSQL
    (its connection budget is checked and logged before any worker starts)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    from kernel.observability import logging_config

    count = workers or settings.workers or default_workers()
    budget = settings.db_budget(count) if database else None  # refused here if too small
    os.environ[f"{env_prefix}WORKERS"] = str(count)
    run_dir = tempfile.mkdtemp(prefix=f"coop-{settings.app_name}-")
    metrics_dir = os.path.join(run_dir, "metrics")
    os.mkdir(metrics_dir)
    os.environ[MULTIPROC_ENV] = metrics_dir
    # Fresh interpreters: no thread (the exporter) or socket of this process is carried
    # into a worker, and each imports prometheus-client with the directory already set.
    multiprocessing.set_start_method("spawn", force=True)
    options: dict[str, Any] = {
        "address": settings.host,
        "port": port or settings.port,
        "interface": Interfaces.ASGI,
        "factory": True,
        "workers": count,
        "loop": Loops.uvloop,
        "http": HTTPModes.http1,
        "websockets": False,
        "http1_settings": HTTP1Settings(
            header_read_timeout=round(settings.header_read_timeout_seconds * 1000),
            # The request line and headers must fit in it: past it, 431.
            max_buffer_size=settings.max_header_bytes,
        ),
        "log_dictconfig": logging_config(settings.log_level),
        # A worker that dies is replaced; the others go on serving meanwhile.
        "respawn_failed_workers": True,
        "workers_kill_timeout": 30,
    }
    try:
        with _metrics_exporter(settings.metrics_host, metrics_port(settings), metrics_dir):
            server = Granian(factory, **options)  # logging configured from here on
            if budget is not None:
                _log.info(
                    "database connections: %d at most, %d per worker (%d engine + %d reads)",
                    budget.most,
                    budget.engine + budget.reads,
                    budget.engine,
                    budget.reads,
                    extra={
                        "fields": {
                            "app": settings.app_name,
                            "db_connections": budget.connections,
                            "workers": budget.workers,
                        }
                    },
                )
            server.serve()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
