"""Fixtures of the conventions tests: the app on a fixed date, persona organisations."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tests.conftest import _dsn
from tests.support.apps import running
from tests.support.conventions import conventions_app, seed_organisations

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await seed_organisations(database_url)
    async with running(conventions_app(database_url, today=TODAY)) as c:
        yield c


async def _truncate_conventions(url: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(_TRUNCATE)
    finally:
        await conn.close()


_TRUNCATE = (
    "TRUNCATE conventions.evenement, conventions.convention_version, conventions.avenant, "
    "conventions.equipement, conventions.signataire, conventions.convention, "
    "conventions.organisation RESTART IDENTITY"
)


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """As tests/conftest.py, limited to this app's schema (the only one these tests
    write): truncating every app's tables after each test dominated the suite's time."""
    if "database_url" not in request.fixturenames:
        yield
        return
    url: str = request.getfixturevalue("database_url")
    yield
    asyncio.run(_truncate_conventions(url))
