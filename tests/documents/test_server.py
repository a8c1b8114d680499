"""The service as a real server process (`kernel.server`): memory stays flat for a
200 MiB file, and a client that disconnects mid-upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.ports import free_port
from services.documents.models import Document, Version
from tests.documents.helpers import files_under, h
from tests.documents.samples import filler_stream, pdf, streamed_multipart
from tests.support.conventions import make_convention, seed_organisations
from tests.support.personas import X_CONTRIBUTEUR

MIB = 1024 * 1024
BIG = 200 * MIB


def _serve(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`factory` served as `coop serve` serves apps (one worker), once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.serve_factory", factory, str(port)],
        env={**os.environ, "COOP_LOG_LEVEL": "WARNING", **env},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):  # readiness wait
        if proc.poll() is not None:
            pytest.fail(f"{factory} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        threading.Event().wait(0.1)
    _stop(proc)
    pytest.fail(f"{factory} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def conventions_server(database_url: str) -> Iterator[str]:
    """The real conventions service over HTTP, in its own process."""
    proc, url = _serve("services.conventions.app:create_app", {"DATABASE_URL": database_url})
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
async def convention_id(conventions_server: str, database_url: str) -> uuid.UUID:
    await seed_organisations(database_url)  # again: tables are emptied after each test
    async with httpx.AsyncClient(base_url=conventions_server) as client:
        return await make_convention(client)


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} absent")


def _worker_pid(server_pid: int) -> int:
    """The one worker process of a server started with one worker (not its
    multiprocessing resource tracker)."""
    for child in psutil.Process(server_pid).children():
        if "resource_tracker" not in " ".join(child.cmdline()):
            return int(child.pid)
    raise AssertionError("no worker process")


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url


@pytest.fixture(scope="module")
def server_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("served-storage")
    yield path
    shutil.rmtree(path, ignore_errors=True)  # hundreds of MiB: not kept for later runs


@pytest.fixture(scope="module")
def served(database_url: str, server_storage: Path, conventions_server: str) -> Iterator[Served]:
    """One server process for the module (starting one costs seconds)."""
    env = {
        "DATABASE_URL": database_url,
        "COOP_DOCUMENTS_STORAGE_ROOT": str(server_storage),
        "COOP_DOCUMENTS_ANTIVIRUS": "false",
        "COOP_DOCUMENTS_MAX_FILE_BYTES": str(BIG + MIB),
        "COOP_DOCUMENTS_CONVENTIONS_URL": conventions_server,
        "COOP_DOCUMENTS_DB_CONNECTIONS": "4",
    }
    proc, url = _serve("services.documents.app:create_app", env)
    try:
        yield Served(proc, url)
    finally:
        _stop(proc)


def fields(convention_id: uuid.UUID) -> list[tuple[str, str]]:
    return [("convention_id", str(convention_id)), ("type", "Autre"), ("titre", "Gros fichier")]


async def _upload_stream(
    client: httpx.AsyncClient, convention_id: uuid.UUID, size: int, **headers: str
) -> httpx.Response:
    body, total, content_type = streamed_multipart(fields(convention_id), "gros.pdf", pdf(), size)
    headers.update({"content-type": content_type, "content-length": str(total)})
    return await client.post(
        "/api/v1/documents", content=body, headers=h(X_CONTRIBUTEUR, **headers)
    )


@pytest.mark.slow
async def test_200_mib_round_trip_keeps_server_memory_flat(
    served: Served, convention_id: uuid.UUID
) -> None:
    expected = hashlib.sha256()
    for piece in filler_stream(pdf(), BIG):
        expected.update(piece)
    async with httpx.AsyncClient(base_url=served.url, timeout=120) as client:
        # Warm-up: imports, pools and first-request allocations are not the file's cost.
        warm = await _upload_stream(client, convention_id, 2 * MIB)
        assert warm.status_code == 201, warm.text
        async with client.stream(
            "GET", f"/api/v1/documents/{warm.json()['id']}/contenu", headers=h(X_CONTRIBUTEUR)
        ) as resp:
            async for _ in resp.aiter_bytes():
                pass
        worker = _worker_pid(served.proc.pid)
        baseline_kib = _kib(worker, "VmRSS")

        # With an Idempotency-Key the body is hashed as it streams, never held whole.
        key = {"idempotency-key": f"gros-{uuid.uuid4().hex}"}
        created = await _upload_stream(client, convention_id, BIG, **key)
        assert created.status_code == 201, created.text
        version = created.json()["derniere_version"]
        assert version["taille"] == BIG
        assert version["sha256"] == expected.hexdigest()

        got = hashlib.sha256()
        received = 0
        async with client.stream(
            "GET", f"/api/v1/documents/{created.json()['id']}/contenu", headers=h(X_CONTRIBUTEUR)
        ) as resp:
            assert resp.status_code == 200
            async for chunk in resp.aiter_raw():
                got.update(chunk)
                received += len(chunk)
        assert received == BIG
        assert got.hexdigest() == expected.hexdigest()

    peak_kib = _kib(worker, "VmHWM")
    growth_mib = (peak_kib - baseline_kib) / 1024
    print(
        f"\n[documents] 200 MiB round trip: server RSS baseline {baseline_kib / 1024:.1f} MiB, "
        f"peak {peak_kib / 1024:.1f} MiB, growth {growth_mib:.1f} MiB"
    )
    assert growth_mib < 64, f"server memory grew by {growth_mib:.1f} MiB for a 200 MiB file"


async def test_a_retried_upload_replays_on_a_served_app(
    served: Served, convention_id: uuid.UUID
) -> None:
    """Each try builds its form again (a new boundary): still the same request."""
    key = f"essai-{uuid.uuid4().hex}"

    async def send(client: httpx.AsyncClient, boundary: str) -> httpx.Response:
        body, total, content_type = streamed_multipart(
            fields(convention_id), "cr.pdf", pdf(), 3 * MIB, boundary=boundary
        )
        headers = {"content-type": content_type, "content-length": str(total)}
        return await client.post(
            "/api/v1/documents",
            content=body,
            headers=h(X_CONTRIBUTEUR, **headers, **{"idempotency-key": key}),
        )

    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        first = await send(client, "premier-essai-7a1")
        again = await send(client, "second-essai-90bc2d")
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


async def test_disconnect_mid_upload_leaves_nothing(
    served: Served, convention_id: uuid.UUID, db_engine: AsyncEngine, server_storage: Path
) -> None:
    blobs_before = files_under(server_storage / "blobs")
    tmp = server_storage / "tmp"
    body, total, content_type = streamed_multipart(
        fields(convention_id), "coupe.pdf", pdf(), 20 * MIB
    )
    host, port = served.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    head = [
        "POST /api/v1/documents HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: {content_type}",
        f"Content-Length: {total}",
        *(f"{k}: {v}" for k, v in h(X_CONTRIBUTEUR).items()),
        "",
        "",
    ]
    try:
        writer.write("\r\n".join(head).encode())
        sent = 0
        async for piece in body:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            if sent > 5 * MIB:
                break
        # Wait until the server has started writing the upload, then vanish.
        for _ in range(300):
            if files_under(tmp):
                break
            await asyncio.sleep(0.05)
        assert files_under(tmp), "the upload never started"
    finally:
        writer.transport.abort()
    await asyncio.sleep(0)
    for _ in range(300):  # the server notices the disconnect and cleans up
        if not files_under(tmp):
            break
        await asyncio.sleep(0.05)
    assert files_under(tmp) == []
    assert files_under(server_storage / "blobs") == blobs_before
    async with db_engine.connect() as conn:
        for model in (Document, Version):
            assert (await conn.execute(select(func.count()).select_from(model))).scalar_one() == 0
    # The server is still healthy.
    async with httpx.AsyncClient(base_url=served.url) as client:
        assert (await client.get("/healthz")).status_code == 200
