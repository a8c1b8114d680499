"""Fixtures of the documents tests: a real clamd, conventions known to the service,
and the app built on a temporary filesystem storage."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop.apps import migration_trees
from kernel import dev_keys
from kernel.convention_ref import ConventionRef, StatutConvention, upsert_refs
from kernel.internal_token import InternalTokenVerifier
from kernel.migrations import MIGRATIONS_ROOT, upgrade
from services.documents.antivirus import ClamdClient
from services.documents.app import create_app
from services.documents.models import convention_ref
from services.documents.settings import DocumentsSettings
from tests.conftest import _admin, _server_url
from tests.documents.samples import EICAR
from tests.support.apps import running
from tests.support.personas import CAF_A, CAF_B, COLLECTIVITE_X, COLLECTIVITE_Y, stable_id


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """As tests/conftest.py, migrating only the trees present in the working tree (apps
    built concurrently may be registered before their migrations land)."""
    server = _server_url()
    name = f"coop_test_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    for tree in migration_trees():
        if (MIGRATIONS_ROOT / tree / "env.py").is_file():
            upgrade(tree, url)
    os.environ["DATABASE_URL"] = url
    try:
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- conventions -------------------------------------------------------------------------

CONVENTION_A = stable_id("documents:convention-a")  # Caf A, signed by collectivité X
CONVENTION_B = stable_id("documents:convention-b")  # Caf B, signed by collectivité Y
CONVENTION_RESILIEE = stable_id("documents:convention-resiliee")  # Caf A + X, résiliée

TODAY = dt.datetime.now(dt.UTC).date()


def _refs() -> dict[Any, ConventionRef]:
    start = dt.date(TODAY.year - 1, 1, 1)
    end = dt.date(TODAY.year + 3, 12, 31)
    return {
        ref.id: ref
        for ref in (
            ConventionRef(
                id=CONVENTION_A,
                caf_id=CAF_A,
                titre="CTG de X",
                echelon="commune",
                statut=StatutConvention.signee,
                date_debut=start,
                date_fin=end,
                signataire_ids=(CAF_A, COLLECTIVITE_X),
                seq=1,
            ),
            ConventionRef(
                id=CONVENTION_B,
                caf_id=CAF_B,
                titre="CTG de Y",
                echelon="commune",
                statut=StatutConvention.signee,
                date_debut=start,
                date_fin=end,
                signataire_ids=(CAF_B, COLLECTIVITE_Y),
                seq=2,
            ),
            ConventionRef(
                id=CONVENTION_RESILIEE,
                caf_id=CAF_A,
                titre="CTG résiliée de X",
                echelon="commune",
                statut=StatutConvention.resiliee,
                date_debut=start,
                date_fin=end,
                date_effet_resiliation=TODAY - dt.timedelta(days=1),
                signataire_ids=(CAF_A, COLLECTIVITE_X),
                seq=3,
            ),
        )
    }


def reference_feed(refs: dict[Any, ConventionRef]) -> FastAPI:
    """The conventions service's internal reference contract (kernel.convention_ref),
    served from a dict: used until tests/support/conventions.py provides the real app."""
    feed = FastAPI()
    verifier = InternalTokenVerifier("conventions", dev_keys.all_public_jwks())

    def check(authorization: str) -> None:
        principal = verifier.verify(authorization.removeprefix("Bearer "))
        if not principal.is_service:
            raise HTTPException(403)

    @feed.get("/internal/v1/conventions/references")
    async def references(after: int = 0, limit: int = 500, authorization: str = Header()) -> Any:
        check(authorization)
        items = sorted((r for r in refs.values() if r.seq > after), key=lambda r: r.seq)
        return {"items": [r.model_dump(mode="json") for r in items[:limit]]}

    @feed.get("/internal/v1/conventions/{convention_id}/reference")
    async def reference(convention_id: str, authorization: str = Header()) -> Any:
        check(authorization)
        for ref in refs.values():
            if str(ref.id) == convention_id:
                return ref.model_dump(mode="json")
        raise HTTPException(404)

    return feed


@pytest.fixture
def conventions() -> dict[Any, ConventionRef]:
    """Conventions as the conventions service knows them (tests may change them)."""
    return _refs()


@pytest.fixture
async def replica_seeded(db_engine: AsyncEngine, conventions: dict[Any, ConventionRef]) -> None:
    async with AsyncSession(db_engine) as session:
        await upsert_refs(session, convention_ref, conventions.values())
        await session.commit()


# --- clamd -------------------------------------------------------------------------------


def _clamd_binary() -> str | None:
    return shutil.which("clamd") or next(
        (p for p in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if Path(p).is_file()), None
    )


@pytest.fixture(scope="session")
def clamd_socket() -> Iterator[str]:
    """A clamd of our own on a temporary socket, with only the EICAR test signature."""
    binary = _clamd_binary()
    if binary is None:
        message = "clamd introuvable : installez le paquet Debian clamav-daemon (.ci/run le fait)."
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    work = Path(tempfile.mkdtemp(prefix="coop-clamd-"))
    (work / "db").mkdir()
    md5 = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (work / "db" / "test.hdb").write_text(f"{md5}:{len(EICAR)}:Eicar-Test-Signature\n")
    socket = work / "clamd.sock"
    conf = work / "clamd.conf"
    conf.write_text(
        "Foreground yes\n"
        f"LocalSocket {socket}\n"
        f"DatabaseDirectory {work / 'db'}\n"
        f"TemporaryDirectory {work}\n"
        f"LogFile {work / 'clamd.log'}\n"
        "StreamMaxLength 100M\n"
        "MaxThreads 4\n"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    client = ClamdClient(str(socket), timeout=5)
    try:
        for _ in range(600):  # readiness wait (not an assertion on time)
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"clamd s'est arrêté au démarrage : {err}")
            if socket.exists() and asyncio.run(client.ping()):
                break
            asyncio.run(asyncio.sleep(0.1))
        else:
            pytest.fail("clamd ne répond pas")
        yield str(socket)
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


# --- the app -----------------------------------------------------------------------------


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    return tmp_path / "storage"


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def documents_app(
    database_url: str,
    storage_root: Path,
    conventions: dict[Any, ConventionRef],
    replica_seeded: None,
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
        transport = httpx.ASGITransport(app=reference_feed(conventions))
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
