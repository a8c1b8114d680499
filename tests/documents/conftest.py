"""Fixtures of the documents tests: a real clamd, the real conventions service
(in-process), and the app built on a temporary filesystem storage."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from coop.ports import free_port
from services.documents.antivirus import ClamdClient
from services.documents.app import create_app
from services.documents.settings import DocumentsSettings
from tests.documents.samples import EICAR
from tests.support.apps import running
from tests.support.conventions import (
    conventions_app,
    make_convention,
    resilier,
    seed_organisations,
)
from tests.support.personas import CAF_B, COLLECTIVITE_Y
from tests.support.system_tools import require_program

# --- conventions: the real conventions service, in-process ------------------------------


@dataclass(frozen=True)
class Convs:
    """Conventions created through the conventions service for one test."""

    a: uuid.UUID  # Caf A, signed by collectivité X
    b: uuid.UUID  # Caf B, signed by collectivité Y
    resiliee: uuid.UUID  # Caf A + X, résiliée today
    service: httpx.AsyncClient  # the conventions service's public API
    app: FastAPI


@pytest.fixture
async def convs(database_url: str) -> AsyncIterator[Convs]:
    await seed_organisations(database_url)
    app = conventions_app(database_url)
    async with running(app) as service:
        a = await make_convention(service, titre="CTG de X")
        b = await make_convention(
            service, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,), titre="CTG de Y"
        )
        resiliee = await make_convention(service, titre="CTG résiliée de X")
        await resilier(service, resiliee)
        yield Convs(a=a, b=b, resiliee=resiliee, service=service, app=app)


# --- clamd -------------------------------------------------------------------------------


@contextmanager
def _clamd(stream_max_length: str, tcp: bool = False) -> Iterator[tuple[str, str | None]]:
    """A clamd of our own on a temporary socket (and a local TCP port when `tcp`), with
    only the EICAR test signature; yields its addresses (socket path, host:port)."""
    binary = require_program(
        "clamd", "clamav-daemon", extra_paths=("/usr/sbin/clamd", "/usr/local/sbin/clamd")
    )
    work = Path(tempfile.mkdtemp(prefix="coop-clamd-"))
    (work / "db").mkdir()
    md5 = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (work / "db" / "test.hdb").write_text(f"{md5}:{len(EICAR)}:Eicar-Test-Signature\n")
    sock = work / "clamd.sock"
    port = free_port() if tcp else None
    conf = work / "clamd.conf"
    conf.write_text(
        "Foreground yes\n"
        f"LocalSocket {sock}\n"
        + (f"TCPSocket {port}\nTCPAddr 127.0.0.1\n" if port else "")
        + f"DatabaseDirectory {work / 'db'}\n"
        f"TemporaryDirectory {work}\n"
        f"LogFile {work / 'clamd.log'}\n"
        f"StreamMaxLength {stream_max_length}\n"
        "MaxThreads 4\n"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    clients = [ClamdClient(str(sock), timeout=5)]
    if port:
        clients.append(ClamdClient(f"127.0.0.1:{port}", timeout=5))
    try:
        for _ in range(600):  # readiness wait (not an assertion on time)
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"clamd s'est arrêté au démarrage : {err}")
            if sock.exists() and all(asyncio.run(c.ping()) for c in clients):
                break
            asyncio.run(asyncio.sleep(0.1))
        else:
            pytest.fail("clamd ne répond pas")
        yield str(sock), (f"127.0.0.1:{port}" if port else None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def clamd_socket() -> Iterator[str]:
    """clamd accepting streams well above the test files (100 MiB)."""
    with _clamd("100M") as (path, _):
        yield path


SMALL_STREAM_MAX = 1024 * 1024


@dataclass(frozen=True)
class SmallClamd:
    unix: str
    tcp: str


@pytest.fixture(scope="session")
def small_clamd() -> Iterator[SmallClamd]:
    """clamd whose StreamMaxLength (1 MiB) is below our maximum upload size: it answers
    ``INSTREAM size limit exceeded. ERROR`` to bigger files (on its socket and TCP port)."""
    with _clamd("1M", tcp=True) as (path, tcp):
        assert tcp is not None
        yield SmallClamd(unix=path, tcp=tcp)


# --- the app -----------------------------------------------------------------------------


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    return tmp_path / "storage"


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def documents_app(
    database_url: str,
    storage_root: Path,
    convs: Convs,
) -> AppFactory:
    """``async with documents_app(**settings) as client``: the app in-process."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values: dict[str, Any] = {
            "database_url": database_url,
            "storage_root": str(storage_root),
            "antivirus": False,
            "conventions_sync_seconds": 3600.0,
        }
        values.update(overrides)
        settings = DocumentsSettings(**values)
        transport = httpx.ASGITransport(app=convs.app)
        app = create_app(settings, conventions_transport=transport)
        async with running(app) as client:
            client.app = app  # type: ignore[attr-defined]  # for raw ASGI calls in tests
            yield client

    return make


@pytest.fixture
async def client(documents_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the antivirus disabled (most rules do not depend on it)."""
    async with documents_app() as c:
        yield c


@pytest.fixture
async def scanned_client(
    documents_app: AppFactory, clamd_socket: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with documents_app(antivirus=True, clamd_address=clamd_socket) as c:
        yield c
