"""With the real conventions service in-process: a convention created seconds ago is
known at once, and a résiliation stops uploads at the very next request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.documents.app import create_app
from services.documents.models import convention_ref
from services.documents.settings import DocumentsSettings
from tests.documents.helpers import h, ok, upload
from tests.documents.samples import pdf
from tests.support.apps import running
from tests.support.conventions import (
    conventions_app,
    make_convention,
    resilier,
    seed_organisations,
)
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    NATIONAL,
    X_CONTRIBUTEUR,
    X_LECTEUR,
)


@pytest.fixture
async def both(
    database_url: str, storage_root: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    await seed_organisations(database_url)
    conv_app = conventions_app(database_url)
    async with running(conv_app) as conventions:
        settings = DocumentsSettings(
            database_url=database_url,
            storage_root=str(storage_root),
            antivirus=False,
            conventions_sync_seconds=3600.0,
        )
        docs_app = create_app(settings, conventions_transport=httpx.ASGITransport(app=conv_app))
        async with running(docs_app) as documents:
            documents.app = docs_app  # type: ignore[attr-defined]
            yield conventions, documents


async def test_documents_follow_the_real_conventions_service(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db_engine: AsyncEngine
) -> None:
    conventions, documents = both
    convention_id = await make_convention(conventions)

    # Never seen by the documents service before: fetched on the upload.
    created = ok(await upload(documents, X_CONTRIBUTEUR, convention_id, "a.pdf", pdf()), 201)
    listed = ok(
        await documents.get(f"/api/v1/conventions/{convention_id}/documents", headers=h(X_LECTEUR))
    )
    assert [d["id"] for d in listed["items"]] == [created["id"]]
    other_caf = await documents.get(
        f"/api/v1/conventions/{convention_id}/documents", headers=h(CAF_B_AGENT)
    )
    assert other_caf.status_code == 404

    await resilier(conventions, convention_id)
    refused = await upload(documents, X_CONTRIBUTEUR, convention_id, "b.pdf", pdf("b"))
    assert refused.status_code == 409
    # What was deposited stays readable.
    got = await documents.get(f"/api/v1/documents/{created['id']}/contenu", headers=h(X_LECTEUR))
    assert got.status_code == 200

    # The background feed brings the same state to the replica.
    await documents.app.state.documents.replica.sync_once()  # type: ignore[attr-defined]
    async with db_engine.connect() as conn:
        statut = (
            await conn.execute(
                select(convention_ref.c.statut).where(convention_ref.c.id == convention_id)
            )
        ).scalar_one()
    assert statut == "résiliée"


async def test_unknown_convention_is_404(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, documents = both
    unknown = "0b7e6a8e-2c1d-4f5a-9e3b-000000000000"
    resp = await upload(documents, CAF_A_AGENT, unknown, "a.pdf", pdf())
    assert resp.status_code == 404
    listed = await documents.get(f"/api/v1/conventions/{unknown}/documents", headers=h(NATIONAL))
    assert listed.status_code == 404
    assert listed.headers["content-type"] == "application/problem+json"
    assert listed.json()["detail"] == "Convention introuvable."
