"""Models match migrations; the pure helpers (type sniffing, names, ranges) behave."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.errors import DomainError
from kernel.sniffing import (
    TEXT_CANDIDATE,
    UnsupportedType,
    content_disposition,
    final_type,
    sanitize_filename,
    sniff_head,
)
from services.documents.download import parse_range
from services.documents.models import Base
from services.documents.settings import DocumentsSettings
from tests.documents.samples import ooxml, ooxml_types, pdf
from tests.support.migrations import schema_differences


async def test_models_and_migrations_agree(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, Base.metadata) == []


def test_head_sniffing() -> None:
    assert sniff_head(pdf()) == "application/pdf"
    assert sniff_head(b"Voiron;12\n") == TEXT_CANDIDATE
    assert sniff_head(ooxml("xlsx")).endswith("spreadsheetml.sheet")
    # [Content_Types].xml need not be the first entry of the package.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("[Content_Types].xml", ooxml_types("docx"))
    assert sniff_head(buf.getvalue()).endswith("wordprocessingml.document")
    with pytest.raises(UnsupportedType):
        sniff_head(b"\x00\x01binary")
    with pytest.raises(UnsupportedType):
        final_type("application/pdf", "rapport.docx", text_ok=True)
    assert final_type(TEXT_CANDIDATE, "export.CSV", text_ok=True) == "text/csv"
    with pytest.raises(UnsupportedType):
        final_type(TEXT_CANDIDATE, "export.csv", text_ok=False)


def test_sanitize_filename() -> None:
    assert sanitize_filename("a/b/../c.pdf").name == "c.pdf"
    assert sanitize_filename("  .cache.pdf ").name == "cache.pdf"
    assert sanitize_filename("x" * 300 + ".pdf").name.endswith(".pdf")
    assert len(sanitize_filename("x" * 300 + ".pdf").name) == 200
    assert sanitize_filename("rapport\u2066\u2069.pdf").name == "rapport.pdf"


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=-500", 100) == (0, 99)
    assert parse_range("items=0-1", 100) is None
    assert parse_range("bytes=5-2", 100) is None
    with pytest.raises(DomainError) as exc:
        parse_range("bytes=100-", 100)
    assert exc.value.status == 416
    with pytest.raises(DomainError):
        parse_range("bytes=-0", 100)


def test_content_disposition_escapes_quotes() -> None:
    value = content_disposition('rapport "final";.pdf')
    assert value.startswith('attachment; filename="rapport _final__.pdf"')
    assert value.endswith("filename*=UTF-8''rapport%20%22final%22%3B.pdf")


def test_production_refuses_a_disabled_antivirus() -> None:
    settings = DocumentsSettings(antivirus=False)
    assert "antivirus is disabled" in settings.production_problems()
    assert "antivirus is disabled" not in DocumentsSettings(antivirus=True).production_problems()
