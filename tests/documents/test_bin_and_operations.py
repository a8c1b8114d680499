"""The bin (retention, purge) and the operator commands (purge, cleanup, rescan)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from coop.cli import app as coop_cli
from kernel.database import create_sessionmaker
from services.documents import service
from services.documents.models import Contenu, Document, Version
from services.documents.storage import FilesystemStorage
from tests.documents.conftest import Convs
from tests.documents.helpers import h, ok, upload
from tests.documents.samples import pdf
from tests.support.personas import CAF_A_AGENT, X_CONTRIBUTEUR


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
    assert await count(db_engine, Document) == 1
    assert len(blob_files(storage_root)) == 1
    got = await client.get(f"/api/v1/documents/{b['id']}/contenu", headers=h(X_CONTRIBUTEUR))
    assert got.content == shared

    deleted = await client.delete(f"/api/v1/documents/{b['id']}", headers=h(CAF_A_AGENT))
    assert deleted.status_code == 204
    report = await service.purge(sessionmaker, storage, retention_days=30, at=later)
    assert (report.documents, report.contenus) == (1, 1)
    assert await count(db_engine, Contenu) == 0
    assert await count(db_engine, Version) == 0
    assert blob_files(storage_root) == []


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
