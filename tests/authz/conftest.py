"""The matrix builds its world once per module (`world` fixtures) and empties the
tables when the module is done, not after each test: this replaces the harness's
per-test truncation for this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.authz.world import World, build_world


@pytest.fixture(autouse=True)
def _empty_tables() -> None:
    return


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, db_engine: AsyncEngine
) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("authz")
    async with build_world(tmp, database_url, db_engine) as built:
        yield built
