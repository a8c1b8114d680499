"""The demo step: idempotent, and its files are what the service itself would accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop.demo_documents import DOCUMENTS, demo_step
from services.documents.models import Document, Version
from services.documents.sniffing import TextChecker, final_type, sniff_head
from tests.documents.helpers import files_under


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
    for expected in ("7 documents, 8 versions", "déjà chargées"):
        async with AsyncSession(db_engine) as session:
            assert await demo_step(session) == expected
            await session.commit()
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Document))).scalar_one() == 7
        assert (await conn.execute(select(func.count()).select_from(Version))).scalar_one() == 8
    assert len(files_under(tmp_path / "blobs")) == 8
