"""A real clamd: EICAR rejected, clean content available, clamd down fails closed, and
an error reply (file above clamd's StreamMaxLength) is retried a bounded number of times
then rejected with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from coop.cli import app as coop_cli
from kernel.database import create_sessionmaker
from services.documents import service
from services.documents.antivirus import (
    ClamdClient,
    ScanError,
    ScanUnavailable,
    parse_address,
    parse_reply,
)
from services.documents.jobs import periodic_jobs
from services.documents.models import Contenu
from services.documents.settings import DocumentsSettings
from services.documents.storage import FilesystemStorage
from tests.documents.conftest import SMALL_STREAM_MAX, AppFactory, Convs, SmallClamd
from tests.documents.helpers import files_under, h, new_version, ok, upload
from tests.documents.samples import EICAR, pdf
from tests.support.jobs import run_workers
from tests.support.personas import CAF_A_AGENT, X_CONTRIBUTEUR, X_LECTEUR


async def test_clean_pdf_becomes_available(convs: Convs, scanned_client: httpx.AsyncClient) -> None:
    data = pdf("propre")
    doc = ok(await upload(scanned_client, X_CONTRIBUTEUR, convs.a, "ok.pdf", data), 201)
    assert doc["antivirus"] == "actif"
    assert doc["derniere_version"]["statut"] == "disponible"
    assert doc["derniere_version"]["analyse_le"] is not None
    got = await scanned_client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert got.content == data
    assert "x-coop-antivirus" not in got.headers


async def test_eicar_is_rejected_and_never_stored(
    convs: Convs, scanned_client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    resp = await upload(scanned_client, X_CONTRIBUTEUR, convs.a, "notes.txt", EICAR)
    doc = ok(resp, 201)
    version = doc["derniere_version"]
    # The uploader sees why.
    assert version["statut"] == "rejeté"
    assert version["signature"].startswith("Eicar-Test-Signature")
    url = f"/api/v1/documents/{doc['id']}"
    refused = await scanned_client.get(f"{url}/contenu", headers=h(X_CONTRIBUTEUR))
    assert refused.status_code == 409
    # Others do not see the document at all.
    assert (await scanned_client.get(url, headers=h(X_LECTEUR))).status_code == 404
    listed = ok(await scanned_client.get("/api/v1/documents", headers=h(X_LECTEUR)))
    assert listed["items"] == []
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Contenu))).scalar_one() == 0
    assert files_under(storage_root) == []


async def test_infected_new_version_keeps_the_clean_one_readable(
    convs: Convs,
    scanned_client: httpx.AsyncClient,
) -> None:
    doc = ok(await upload(scanned_client, X_CONTRIBUTEUR, convs.a, "a.txt", b"v1 propre\n"), 201)
    bad = ok(await new_version(scanned_client, X_CONTRIBUTEUR, doc["id"], "a.txt", EICAR), 201)
    assert bad["statut"] == "rejeté"
    url = f"/api/v1/documents/{doc['id']}"
    latest = await scanned_client.get(f"{url}/contenu", headers=h(X_LECTEUR))
    assert latest.content == b"v1 propre\n"
    versions = ok(await scanned_client.get(f"{url}/versions", headers=h(X_LECTEUR)))
    assert [v["numero"] for v in versions["items"]] == [1]  # the rejected one is the uploader's
    own = ok(await scanned_client.get(f"{url}/versions", headers=h(X_CONTRIBUTEUR)))
    assert [v["statut"] for v in own["items"]] == ["rejeté", "disponible"]  # newest first


async def test_clamd_down_keeps_en_analyse_until_rescan(
    convs: Convs,
    documents_app: AppFactory,
    clamd_socket: str,
    tmp_path: Path,
    database_url: str,
    db_engine: AsyncEngine,
    storage_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = pdf("attente")
    async with documents_app(antivirus=True, clamd_address=str(tmp_path / "absent.sock")) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "a.pdf", data), 201)
        assert doc["derniere_version"]["statut"] == "en_analyse"
        # Unreachable is transient: nothing is counted against the file.
        assert doc["derniere_version"]["echecs_analyse"] == 0
        assert doc["derniere_version"]["motif"] is None
        url = f"/api/v1/documents/{doc['id']}"
        # Fail closed: never downloadable unscanned, invisible to others.
        assert (await c.get(f"{url}/contenu", headers=h(X_CONTRIBUTEUR))).status_code == 409
        assert (await c.get(f"{url}/versions/1/contenu", headers=h(CAF_A_AGENT))).status_code == 404
        assert (await c.get(url, headers=h(X_LECTEUR))).status_code == 404
        # The content itself is durably stored, waiting for the scan.
        assert len(files_under(storage_root / "blobs")) == 1

    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)
    down = ClamdClient(str(tmp_path / "x.sock"))
    for _ in range(4):  # however often: never rejected for clamd being down
        still_down = await service.rescan(sessionmaker, storage, down, max_errors=3)
        assert still_down == {"disponible": 0, "rejeté": 0, "en_analyse": 1}
    # The operator's command says so and exits 2: something is still waiting.
    monkeypatch.setenv("COOP_DOCUMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("COOP_DOCUMENTS_STORAGE_ROOT", str(storage_root))
    monkeypatch.setenv("COOP_DOCUMENTS_ANTIVIRUS", "true")
    monkeypatch.setenv("COOP_DOCUMENTS_CLAMD_ADDRESS", str(tmp_path / "x.sock"))
    waiting = await asyncio.to_thread(CliRunner().invoke, coop_cli, ["documents", "rescan"])
    assert waiting.exit_code == 2, waiting.output
    assert "toujours en analyse : 1" in waiting.output
    counts = await service.rescan(sessionmaker, storage, ClamdClient(clamd_socket), max_errors=3)
    assert counts == {"disponible": 1, "rejeté": 0, "en_analyse": 0}

    async with documents_app(antivirus=True, clamd_address=clamd_socket) as c:
        got = await c.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
        assert got.status_code == 200
        assert got.content == data


async def test_the_worker_scans_again_once_clamd_answers(
    convs: Convs,
    documents_app: AppFactory,
    clamd_socket: str,
    tmp_path: Path,
    database_url: str,
    storage_root: Path,
) -> None:
    """Nobody runs `coop documents rescan`: the documents' periodic job (run by the real
    procrastinate worker, as `coop worker` runs it) retries what waits."""
    data = pdf("analysé plus tard")
    address = tmp_path / "clamd.sock"  # nothing listens there yet: clamd is down
    settings = DocumentsSettings(
        database_url=database_url,
        storage_root=str(storage_root),
        antivirus=True,
        clamd_address=str(address),
        rescan_seconds=1,
    )
    async with documents_app(antivirus=True, clamd_address=str(address)) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "a.pdf", data), 201)
        assert doc["derniere_version"]["statut"] == "en_analyse"
        address.symlink_to(clamd_socket)  # clamd is back
        url = f"/api/v1/documents/{doc['id']}"

        async def statut() -> str:
            version = ok(await c.get(f"{url}/versions/1", headers=h(X_CONTRIBUTEUR)))
            return str(version["statut"])

        async def scanned() -> None:
            while await statut() == "en_analyse":  # noqa: ASYNC110 (polling the API)
                await asyncio.sleep(0.1)

        async with periodic_jobs(settings) as jobs:
            rescan = [job for job in jobs if job.name == "documents.rescan"]
            assert rescan, "the documents' jobs include the rescan when scanning is on"
            await asyncio.wait_for(run_workers(database_url, rescan, 1, scanned()), timeout=60)
        version = ok(await c.get(f"{url}/versions/1", headers=h(X_CONTRIBUTEUR)))
        assert version["statut"] == "disponible"
        got = await c.get(f"{url}/contenu", headers=h(X_LECTEUR))
        assert got.status_code == 200
        assert got.content == data


async def test_rescan_rejects_what_arrived_while_clamd_was_down(
    convs: Convs,
    documents_app: AppFactory,
    clamd_socket: str,
    tmp_path: Path,
    db_engine: AsyncEngine,
    storage_root: Path,
) -> None:
    async with documents_app(antivirus=True, clamd_address=str(tmp_path / "absent.sock")) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "a.txt", EICAR), 201)
        assert doc["derniere_version"]["statut"] == "en_analyse"
    counts = await service.rescan(
        create_sessionmaker(db_engine),
        FilesystemStorage(storage_root),
        ClamdClient(clamd_socket),
        max_errors=3,
    )
    assert counts["rejeté"] == 1
    async with documents_app(antivirus=True, clamd_address=clamd_socket) as c:
        version = ok(
            await c.get(f"/api/v1/documents/{doc['id']}/versions/1", headers=h(X_CONTRIBUTEUR))
        )
        assert version["statut"] == "rejeté"
        assert version["signature"].startswith("Eicar-Test-Signature")
    # The infected content is gone from storage.
    assert files_under(storage_root) == []


def test_clamd_protocol_details() -> None:
    assert parse_address("/run/clamav/clamd.ctl") == "/run/clamav/clamd.ctl"
    assert parse_address("unix:/tmp/c.sock") == "/tmp/c.sock"
    assert parse_address("clamav:3310") == ("clamav", 3310)
    assert parse_reply(b"stream: OK\0").clean
    found = parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")
    assert (found.clean, found.signature) == (False, "Win.Test.EICAR_HDB-1")
    with pytest.raises(ScanError, match=r"^INSTREAM size limit exceeded\. ERROR$"):
        parse_reply(b"INSTREAM size limit exceeded. ERROR\0")


async def test_a_connection_closed_without_an_answer_is_transient(tmp_path: Path) -> None:
    """A peer that hangs up mid-stream (clamd killed, connection reset) gave no verdict
    and no error: `ScanUnavailable`, which leaves the version `en_analyse`."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)
        writer.close()

    path = tmp_path / "muet.sock"
    server = await asyncio.start_unix_server(hang_up, str(path))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 65536

    try:
        with pytest.raises(ScanUnavailable):
            await ClamdClient(str(path), timeout=5).scan(chunks())
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_clamd_error_reply_is_retried_then_rejected_with_its_reason(
    transport: str,
    convs: Convs,
    documents_app: AppFactory,
    small_clamd: SmallClamd,
    db_engine: AsyncEngine,
    storage_root: Path,
) -> None:
    """clamd answers "INSTREAM size limit exceeded. ERROR" to a file above its
    StreamMaxLength (below our maximum upload size here): the version stays `en_analyse`
    with the reason, is retried, and after `scan_max_errors` replies is `rejeté` with
    "Analyse impossible : ..." and never downloadable."""
    address = small_clamd.unix if transport == "unix" else small_clamd.tcp
    big = pdf("trop gros pour ce clamd", padding=2 * SMALL_STREAM_MAX)
    async with documents_app(antivirus=True, clamd_address=address, scan_max_errors=3) as c:
        # The same clamd analyses smaller files: the error is about this file only.
        small = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "petit.pdf", pdf("petit")), 201)
        assert small["derniere_version"]["statut"] == "disponible"
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "gros.pdf", big, titre="Gros"), 201)
        version = doc["derniere_version"]
        assert version["statut"] == "en_analyse"
        assert version["echecs_analyse"] == 1
        assert "INSTREAM size limit exceeded. ERROR" in version["motif"]
        url = f"/api/v1/documents/{doc['id']}"
        assert (await c.get(f"{url}/contenu", headers=h(X_CONTRIBUTEUR))).status_code == 409
        assert (await c.get(url, headers=h(X_LECTEUR))).status_code == 404

    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)
    scanner = ClamdClient(address, timeout=5)
    second = await service.rescan(sessionmaker, storage, scanner, max_errors=3)
    assert second == {"disponible": 0, "rejeté": 0, "en_analyse": 1}
    third = await service.rescan(sessionmaker, storage, scanner, max_errors=3)
    assert third == {"disponible": 0, "rejeté": 1, "en_analyse": 0}
    # Terminal: no longer retried.
    after = await service.rescan(sessionmaker, storage, scanner, max_errors=3)
    assert after == {"disponible": 0, "rejeté": 0, "en_analyse": 0}

    async with documents_app(antivirus=True, clamd_address=address) as c:
        version = ok(await c.get(f"{url}/versions/1", headers=h(X_CONTRIBUTEUR)))
        assert version["statut"] == "rejeté"
        assert version["signature"] is None
        assert version["motif"] == "Analyse impossible : INSTREAM size limit exceeded. ERROR"
        assert version["echecs_analyse"] == 3
        assert version["analyse_le"] is not None
        assert (await c.get(f"{url}/contenu", headers=h(X_CONTRIBUTEUR))).status_code == 409
        refused = await c.get(f"{url}/versions/1/contenu", headers=h(X_CONTRIBUTEUR))
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            "Version rejetée. Analyse impossible : INSTREAM size limit exceeded. ERROR"
        )
        assert (await c.get(f"{url}/versions/1/contenu", headers=h(CAF_A_AGENT))).status_code == 404
        assert (await c.get(url, headers=h(X_LECTEUR))).status_code == 404
    # Unlike infected content, it is kept: an operator may queue it again.
    assert len(files_under(storage_root / "blobs")) == 2


async def test_operator_requeues_unanalysable_versions_once_clamd_is_fixed(
    convs: Convs,
    documents_app: AppFactory,
    small_clamd: SmallClamd,
    clamd_socket: str,
    database_url: str,
    storage_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = pdf("analysable plus tard", padding=2 * SMALL_STREAM_MAX)
    async with documents_app(
        antivirus=True, clamd_address=small_clamd.unix, scan_max_errors=1
    ) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "gros.pdf", big, titre="Gros"), 201)
        # One error reply allowed: rejected at once, and the uploader is told why.
        assert doc["derniere_version"]["statut"] == "rejeté"
        assert doc["derniere_version"]["motif"].startswith("Analyse impossible : INSTREAM")
        infected = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "v.txt", EICAR, titre="V"), 201)
        assert infected["derniere_version"]["statut"] == "rejeté"

    # The operator raised StreamMaxLength (here: the clamd that accepts 100 MiB).
    monkeypatch.setenv("COOP_DOCUMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("COOP_DOCUMENTS_STORAGE_ROOT", str(storage_root))
    monkeypatch.setenv("COOP_DOCUMENTS_ANTIVIRUS", "true")
    monkeypatch.setenv("COOP_DOCUMENTS_CLAMD_ADDRESS", clamd_socket)
    runner = CliRunner()
    # The command runs its own event loop: in a thread, off the tests' loop.
    plain = await asyncio.to_thread(runner.invoke, coop_cli, ["documents", "rescan"])
    assert plain.exit_code == 0, plain.output
    assert "disponibles : 0" in plain.output  # rejected versions are not retried on their own
    again = await asyncio.to_thread(
        runner.invoke, coop_cli, ["documents", "rescan", "--retry-unanalysable"]
    )
    assert again.exit_code == 0, again.output
    assert "1 version(s) remise(s) en analyse" in again.output
    assert "disponibles : 1" in again.output

    async with documents_app(antivirus=True, clamd_address=clamd_socket) as c:
        url = f"/api/v1/documents/{doc['id']}"
        got = await c.get(f"{url}/contenu", headers=h(X_LECTEUR))
        assert got.status_code == 200
        assert got.content == big
        version = ok(await c.get(f"{url}/versions/1", headers=h(X_LECTEUR)))
        assert (version["statut"], version["motif"]) == ("disponible", None)
        # The infected one is not requeued (its content is gone anyway).
        other = f"/api/v1/documents/{infected['id']}/versions/1"
        kept = ok(await c.get(other, headers=h(X_CONTRIBUTEUR)))
        assert kept["statut"] == "rejeté"
        assert kept["signature"].startswith("Eicar-Test-Signature")
        assert kept["motif"] == f"Menace détectée par l'antivirus : {kept['signature']}"


async def test_a_multi_megabyte_file_is_streamed_to_clamd(
    convs: Convs,
    scanned_client: httpx.AsyncClient,
) -> None:
    """Many INSTREAM chunks (the file is larger than clamd's chunk size many times)."""
    data = pdf("gros", padding=3 * 1024 * 1024)
    doc = ok(await upload(scanned_client, X_CONTRIBUTEUR, convs.a, "gros.pdf", data), 201)
    assert doc["derniere_version"]["statut"] == "disponible"
    got = await scanned_client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert got.content == data
