"""A real clamd: EICAR rejected, clean content available, clamd down fails closed."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import create_sessionmaker
from services.documents import service
from services.documents.antivirus import ClamdClient, parse_address, parse_reply
from services.documents.models import Contenu
from services.documents.storage import FilesystemStorage
from tests.documents.conftest import AppFactory, Convs
from tests.documents.helpers import files_under, h, new_version, ok, upload
from tests.documents.samples import EICAR, pdf
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
    assert [v["statut"] for v in own["items"]] == ["disponible", "rejeté"]


async def test_clamd_down_keeps_en_analyse_until_rescan(
    convs: Convs,
    documents_app: AppFactory,
    clamd_socket: str,
    tmp_path: Path,
    database_url: str,
    db_engine: AsyncEngine,
    storage_root: Path,
) -> None:
    data = pdf("attente")
    async with documents_app(antivirus=True, clamd_address=str(tmp_path / "absent.sock")) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "a.pdf", data), 201)
        assert doc["derniere_version"]["statut"] == "en_analyse"
        url = f"/api/v1/documents/{doc['id']}"
        # Fail closed: never downloadable unscanned, invisible to others.
        assert (await c.get(f"{url}/contenu", headers=h(X_CONTRIBUTEUR))).status_code == 409
        assert (await c.get(f"{url}/versions/1/contenu", headers=h(CAF_A_AGENT))).status_code == 404
        assert (await c.get(url, headers=h(X_LECTEUR))).status_code == 404
        # The content itself is durably stored, waiting for the scan.
        assert len(files_under(storage_root / "blobs")) == 1

    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)
    still_down = await service.rescan(sessionmaker, storage, ClamdClient(str(tmp_path / "x.sock")))
    assert still_down == {"disponible": 0, "rejeté": 0, "en_analyse": 1}
    counts = await service.rescan(sessionmaker, storage, ClamdClient(clamd_socket))
    assert counts == {"disponible": 1, "rejeté": 0, "en_analyse": 0}

    async with documents_app(antivirus=True, clamd_address=clamd_socket) as c:
        got = await c.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
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
        create_sessionmaker(db_engine), FilesystemStorage(storage_root), ClamdClient(clamd_socket)
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
