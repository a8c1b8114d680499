"""The bin (retention, purge) and the operator commands (purge, cleanup, rescan); a
purge racing an upload of the same bytes never deletes content just reused."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import os
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from coop.cli import app as coop_cli
from kernel.database import create_sessionmaker
from services.documents import service
from services.documents.jobs import periodic_jobs as documents_jobs
from services.documents.models import Contenu, Document, Version
from services.documents.settings import DocumentsSettings
from services.documents.storage import FilesystemStorage, TempUpload
from tests.documents.conftest import Convs
from tests.documents.helpers import h, new_version, ok, upload
from tests.documents.samples import pdf
from tests.support.personas import CAF_A_AGENT, X_CONTRIBUTEUR, X_LECTEUR, Y_CONTRIBUTEUR


async def count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


def blob_files(root: Path) -> list[Path]:
    base = root / "blobs"
    return [p for p in base.rglob("*") if p.is_file()] if base.exists() else []


async def test_purge_removes_binned_documents_then_unreferenced_content(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    shared = pdf("partagé")
    a = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", shared, titre="A"), 201)
    b = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "b.pdf", shared, titre="B"), 201)
    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)

    deleted = await client.delete(f"/api/v1/documents/{a['id']}", headers=h(CAF_A_AGENT))
    assert deleted.status_code == 204
    # Within retention: nothing purged.
    report = await service.purge(sessionmaker, storage, retention_days=30)
    assert (report.documents, report.contenus) == (0, 0)
    # Past retention: the document goes, the shared content stays for B.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    report = await service.purge(sessionmaker, storage, retention_days=30, at=later)
    assert (report.documents, report.contenus) == (1, 0)
    assert await count(db_engine, Document) == 2  # A's record stays (below)
    assert len(blob_files(storage_root)) == 1
    got = await client.get(f"/api/v1/documents/{b['id']}/contenu", headers=h(X_CONTRIBUTEUR))
    assert got.content == shared

    deleted = await client.delete(f"/api/v1/documents/{b['id']}", headers=h(CAF_A_AGENT))
    assert deleted.status_code == 204
    report = await service.purge(sessionmaker, storage, retention_days=30, at=later)
    assert (report.documents, report.contenus) == (1, 1)
    assert await count(db_engine, Contenu) == 0
    assert blob_files(storage_root) == []
    # Purged once: a second purge finds nothing more to do.
    report = await service.purge(sessionmaker, storage, retention_days=30, at=later)
    assert (report.documents, report.contenus) == (0, 0)


async def test_a_purged_document_keeps_its_record_never_its_content(
    convs: Convs,
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    storage_root: Path,
    database_url: str,
) -> None:
    """Issue 24: "a purged document's history keeps its metadata, never its content".
    The bin is emptied by the job `documents.bin-purge` (the clock moved, never slept)."""
    first, second = pdf("version 1"), pdf("version 2, plus longue")
    doc = ok(
        await upload(
            client, X_CONTRIBUTEUR, convs.a, "cr.pdf", first, titre="CR COPIL", description="Notes"
        ),
        201,
    )
    ok(await new_version(client, CAF_A_AGENT, doc["id"], "cr-v2.pdf", second), 201)
    path = f"/api/v1/documents/{doc['id']}"
    assert (await client.delete(path, headers=h(CAF_A_AGENT))).status_code == 204
    settings = DocumentsSettings(
        database_url=database_url, storage_root=str(storage_root), antivirus=False
    )

    async def purge_at(clock: dt.datetime) -> service.PurgeReport:
        values = settings.model_copy(update={"clock": clock})
        async with documents_jobs(values) as jobs:
            [job] = [j for j in jobs if j.name == "documents.bin-purge"]
            report: service.PurgeReport = await job.work()
            return report

    now = dt.datetime.now(dt.UTC)
    assert (await purge_at(now + dt.timedelta(days=29))).documents == 0  # still restorable
    assert (await purge_at(now + dt.timedelta(days=31))).documents == 1

    # The content is gone from storage...
    assert blob_files(storage_root) == []
    # ... the record stays: what it was, its versions' files, who and when.
    async with db_engine.connect() as conn:
        record = (await conn.execute(select(Document).where(Document.id == doc["id"]))).one()
        versions = (
            await conn.execute(
                select(Version).where(Version.document_id == doc["id"]).order_by(Version.numero)
            )
        ).all()
    assert (record.titre, record.type, record.depose_par, record.description) == (
        "CR COPIL",
        "Compte rendu de COPIL",
        X_CONTRIBUTEUR.subject,
        None,
    )
    assert record.purge_le is not None
    assert [
        (v.numero, v.nom_fichier, v.taille, v.sha256, v.depose_par, v.contenu_sha256)
        for v in versions
    ] == [
        (1, "cr.pdf", len(first), hashlib.sha256(first).hexdigest(), X_CONTRIBUTEUR.subject, None),
        (
            2,
            "cr-v2.pdf",
            len(second),
            hashlib.sha256(second).hexdigest(),
            CAF_A_AGENT.subject,
            None,
        ),
    ]
    assert all(v.depose_le is not None for v in versions)

    # Nowhere to be listed or read any more: 410 in the scope (with when), 404 outside.
    for suffix in ("", "/versions", "/versions/1", "/contenu", "/versions/2/contenu"):
        gone = await client.get(path + suffix, headers=h(X_LECTEUR))
        assert gone.status_code == 410, (suffix, gone.text)
        assert gone.json()["purge_le"] == record.purge_le.isoformat()
        assert "supprimé définitivement" in gone.json()["detail"]
    assert (await client.get(path, headers=h(Y_CONTRIBUTEUR))).status_code == 404
    restore = await client.post(path + "/restauration", headers=h(CAF_A_AGENT))
    assert restore.status_code == 410
    for listing in ("", "&corbeille=true"):
        page = ok(
            await client.get(
                f"/api/v1/documents?convention_id={convs.a}{listing}", headers=h(CAF_A_AGENT)
            )
        )
        assert page["items"] == []


# --- purge racing an upload of identical content ------------------------------------------


class GatedStorage(FilesystemStorage):
    """The real filesystem storage, held at the first call of one method until the test
    lets it go: how the tests order two concurrent operations (no timing involved)."""

    def __init__(self, root: Path, method: str) -> None:
        super().__init__(root)
        self.method = method
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def _gate(self, method: str) -> None:
        if method == self.method and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()

    async def publish(self, upload: TempUpload, sha256: str) -> str:
        await self._gate("publish")
        return await super().publish(upload, sha256)

    async def delete(self, key: str) -> None:
        await self._gate("delete")
        await super().delete(key)


async def blocked_on_lock_or_done(engine: AsyncEngine, task: Awaitable[object]) -> None:
    """Return once `task` has finished or a session waits for a lock (the content's
    advisory lock, in the code under test).

    The ordering condition is observed in PostgreSQL itself (pg_locks); the short pauses
    only hand the event loop to the task between two looks.
    """
    assert isinstance(task, asyncio.Task)
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(10_000):
        if task.done():
            return
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("ni attente de verrou ni fin de la tâche")


async def binned_content(client: httpx.AsyncClient, convs: Convs, data: bytes) -> None:
    """A document whose content is `data`, in the bin: after purge, `data` is unreferenced."""
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "ancien.pdf", data, titre="Ancien"), 201)
    deleted = await client.delete(f"/api/v1/documents/{doc['id']}", headers=h(CAF_A_AGENT))
    assert deleted.status_code == 204


LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)


async def test_purge_holding_the_content_lets_a_reupload_of_it_publish_afterwards(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    """The purge has deleted the content's row and is about to delete its blob when the
    same bytes are uploaded again: the upload waits for the purge, then stores them anew."""
    data = pdf("repris")
    await binned_content(client, convs, data)
    purge_storage = GatedStorage(storage_root, "delete")
    sessionmaker = create_sessionmaker(db_engine)
    purging = asyncio.create_task(service.purge(sessionmaker, purge_storage, 30, at=LATER))
    await purge_storage.entered.wait()  # row deleted (uncommitted), blob next, lock held

    uploading = asyncio.create_task(
        upload(client, X_CONTRIBUTEUR, convs.a, "nouveau.pdf", data, titre="Nouveau")
    )
    await blocked_on_lock_or_done(db_engine, uploading)
    purge_storage.release.set()
    report = await purging
    doc = ok(await uploading, 201)

    assert (report.documents, report.contenus) == (1, 1)  # the old copy was purged...
    got = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert got.status_code == 200  # ...and the new upload stored the bytes again
    assert got.content == data
    assert await count(db_engine, Contenu) == 1
    assert [p.read_bytes() for p in blob_files(storage_root)] == [data]


async def test_upload_reusing_content_keeps_it_from_a_concurrent_purge(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    """The upload attaches a new version to the stored content while a purge finds that
    content unreferenced: the purge waits, checks again and keeps it."""
    data = pdf("réutilisé")
    await binned_content(client, convs, data)
    app_storage = GatedStorage(storage_root, "publish")
    app = client.app  # type: ignore[attr-defined]
    app.state.documents = dataclasses.replace(app.state.documents, storage=app_storage)
    uploading = asyncio.create_task(
        upload(client, X_CONTRIBUTEUR, convs.a, "nouveau.pdf", data, titre="Nouveau")
    )
    await app_storage.entered.wait()  # lock held, blob and version next, not committed

    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)
    purging = asyncio.create_task(service.purge(sessionmaker, storage, 30, at=LATER))
    await blocked_on_lock_or_done(db_engine, purging)
    app_storage.release.set()
    doc = ok(await uploading, 201)
    report = await purging

    # The old document went; the content it shared with the new upload stayed.
    assert (report.documents, report.contenus) == (1, 0)
    got = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert got.status_code == 200
    assert got.content == data
    assert await count(db_engine, Contenu) == 1
    assert [p.read_bytes() for p in blob_files(storage_root)] == [data]


async def test_restore_is_refused_after_retention(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    await client.delete(f"/api/v1/documents/{doc['id']}", headers=h(X_CONTRIBUTEUR))
    async with db_engine.begin() as conn:
        await conn.execute(
            update(Document).values(supprime_le=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
        )
    url = f"/api/v1/documents/{doc['id']}/restauration"
    resp = await client.post(url, headers=h(X_CONTRIBUTEUR))
    assert resp.status_code == 409


async def test_cleanup_removes_orphans_and_keeps_referenced_content(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    data = pdf("gardé")
    ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", data), 201)
    kept = blob_files(storage_root)
    assert len(kept) == 1
    # What a crash leaves: a temporary upload, and content published without its row.
    tmp = storage_root / "tmp" / "crash.part"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"%PDF- moitie")
    orphan_sha = "ab" * 32
    orphan = storage_root / "blobs" / "ab" / "ab" / orphan_sha
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"%PDF- sans ligne")
    old = time.time() - 7200
    for path in (tmp, orphan, kept[0]):
        os.utime(path, (old, old))

    sessionmaker = create_sessionmaker(db_engine)
    storage = FilesystemStorage(storage_root)
    # Younger than the grace period (an upload may be in flight): left alone.
    assert await service.cleanup_orphans(sessionmaker, storage, grace_seconds=3 * 3600) == {
        "temporaires": 0,
        "contenus_orphelins": 0,
    }
    assert await service.cleanup_orphans(sessionmaker, storage, grace_seconds=3600) == {
        "temporaires": 1,
        "contenus_orphelins": 1,
    }
    assert not tmp.exists()
    assert not orphan.exists()
    assert kept[0].read_bytes() == data


@pytest.fixture
def cli_env(storage_root: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOP_DOCUMENTS_STORAGE_ROOT", str(storage_root))
    monkeypatch.setenv("COOP_DOCUMENTS_DATABASE_URL", database_url)
    monkeypatch.setenv("COOP_DOCUMENTS_ANTIVIRUS", "false")


def test_cli_commands(cli_env: None, storage_root: Path) -> None:
    tmp = storage_root / "tmp" / "abandon.part"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"x")
    runner = CliRunner()
    result = runner.invoke(coop_cli, ["documents", "cleanup", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert not tmp.exists()
    result = runner.invoke(coop_cli, ["documents", "purge"])
    assert result.exit_code == 0, result.output
    assert "0 document(s) purgé(s)" in result.output
    # Rescanning without an antivirus is an operator error, said as such.
    result = runner.invoke(coop_cli, ["documents", "rescan"])
    assert result.exit_code == 1
