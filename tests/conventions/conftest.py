"""Fixtures of the conventions tests: the app on a fixed date, persona organisations."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.apps import running
from tests.support.conventions import conventions_app, seed_organisations

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await seed_organisations(database_url)
    async with running(conventions_app(database_url, today=TODAY)) as c:
        yield c
