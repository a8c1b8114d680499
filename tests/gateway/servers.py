"""Real server processes (`kernel.server`) on free loopback ports, for the end-to-end
proxy tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from coop.ports import free_port
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.gateway.support import NO_DATABASE, StaticGrantResolver


def gateway_from_env() -> FastAPI:
    """Server factory: the real gateway app, grants from the test resolver (no database)."""
    return create_app(GatewaySettings(), grant_resolver=StaticGrantResolver())


class Server:
    def __init__(
        self, factory: str, env: Mapping[str, str], port: int | None = None, workers: int = 1
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("COOP_")}
        clean.pop("DATABASE_URL", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.serve_factory",
                factory,
                str(self.port),
                str(workers),
            ],
            env={"COOP_LOG_LEVEL": "WARNING", **clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.workers = workers
        self._not_yet_seen = workers
        self._serving = threading.Semaphore(0)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        """The server's stderr, passed on to ours (pytest shows it with a failure); each
        worker's "Started worker-N" (granian, once its lifespan is done and it accepts
        connections: logged whatever COOP_LOG_LEVEL) counted."""
        assert self.process.stderr is not None
        for line in self.process.stderr:
            sys.stderr.write(line.decode(errors="replace"))
            if b"Started worker-" in line:
                self._serving.release()

    def wait_ready(self, path: str = "/healthz") -> None:
        """Until `path` answers 200 and every worker serves: one worker answering says
        nothing of the others, still starting on a loaded machine (a test spreading
        requests over workers would meet one)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.url} not ready")
        while self._not_yet_seen:
            if not self._serving.acquire(timeout=max(deadline - time.monotonic(), 0)):
                raise RuntimeError(f"{self.url}: not every worker of {self.workers} serves")
            self._not_yet_seen -= 1

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Its workers gone too, the pipe ends; a straggler holding it is not waited for.
        self._reader.join(timeout=5)
        if not self._reader.is_alive() and self.process.stderr is not None:
            self.process.stderr.close()


def idp_server(key_dir: Path, **env: str) -> Server:
    """The development identity provider, its keys in `key_dir`; `env`: more settings."""
    port = free_port()
    # The issuer URL is built from host and port: the process must know its port.
    return Server(
        "gateway.devidp.app:create_app",
        {
            "COOP_IDP_KEY_DIR": str(key_dir),
            "COOP_IDP_HOST": "127.0.0.1",
            "COOP_IDP_PORT": str(port),
            **env,
        },
        port=port,
    )


def echo_server(name: str) -> Server:
    """An echo service (`tests.gateway.echo_service`) standing for the service `name`."""
    return Server(
        "tests.gateway.echo_service:echo_service_from_env",
        {"COOP_ECHO_NAME": name, "COOP_ECHO_DATABASE_URL": NO_DATABASE},
    )


def gateway_server(
    idp: Server, service_urls: Mapping[str, str], *, workers: int = 1, **env: str
) -> Server:
    """The real gateway (grants from the test resolver) trusting `idp`, in front of
    `service_urls`; `env`: more settings."""
    return Server(
        "tests.gateway.servers:gateway_from_env",
        {
            "COOP_GATEWAY_DATABASE_URL": NO_DATABASE,
            "COOP_GATEWAY_OIDC_ISSUER": idp.url,
            "COOP_GATEWAY_SERVICE_URLS": json.dumps(dict(service_urls)),
            **env,
        },
        workers=workers,
    )


class Started(list[Server]):
    """Servers started in turn; `ready()` waits for each to answer."""

    def add(self, server: Server) -> Server:
        self.append(server)
        return server

    def ready(self) -> None:
        for server in self:
            server.wait_ready()


@contextlib.contextmanager
def started_servers() -> Iterator[Started]:
    """Every server added is stopped at the end, whatever happened meanwhile."""
    started = Started()
    try:
        yield started
    finally:
        for server in started:
            server.stop()
