"""The demo step: idempotent, and its files are what the service itself would accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop.demo_conventions import demo_step as conventions_demo_step
from coop.demo_documents import DOCUMENTS, demo_step
from coop.demo_ids import replica_refs
from kernel import dev_keys
from kernel.convention_ref import ConventionRef
from kernel.internal_token import InternalTokenSigner
from kernel.sniffing import TextChecker, final_type, sniff_head
from services.documents.models import Document, Version
from tests.documents.helpers import files_under
from tests.support.apps import running
from tests.support.conventions import conventions_app


def test_demo_files_pass_the_type_checks() -> None:
    for spec in DOCUMENTS:
        for file in spec.versions:
            checker = TextChecker()
            checker.feed(file.data, final=True)
            assert final_type(sniff_head(file.data), file.nom, checker.ok) == file.type_contenu


async def test_demo_step_is_idempotent(
    db_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOP_DOCUMENTS_STORAGE_ROOT", str(tmp_path))
    for expected in ("12 documents, 13 versions", "déjà chargées"):
        async with AsyncSession(db_engine) as session:
            assert await demo_step(session) == expected
            await session.commit()
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Document))).scalar_one() == 12
        assert (await conn.execute(select(func.count()).select_from(Version))).scalar_one() == 13
    assert len(files_under(tmp_path / "blobs")) == 13


async def test_demo_replica_matches_the_conventions_demo(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """The references the documents demo writes are what the conventions service serves."""
    async with AsyncSession(db_engine) as session:
        await conventions_demo_step(session)
        await session.commit()
    signer = InternalTokenSigner("documents", dev_keys.private_jwk("documents"))
    headers = {"authorization": f"Bearer {signer.mint_service('conventions')}"}
    async with running(conventions_app(database_url)) as service:
        for ref in replica_refs():
            resp = await service.get(
                f"/internal/v1/conventions/{ref.id}/reference", headers=headers
            )
            assert resp.status_code == 200, resp.text
            served = ConventionRef.model_validate_json(resp.content)
            assert (served.caf_id, served.titre, served.echelon, served.statut) == (
                ref.caf_id,
                ref.titre,
                ref.echelon,
                ref.statut,
            )
            assert (served.date_debut, served.date_fin) == (ref.date_debut, ref.date_fin)
            assert set(served.signataire_ids) == set(ref.signataire_ids)
