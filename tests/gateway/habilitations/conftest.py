"""Fixtures of the habilitations tests: the gateway with its database grants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.habilitations.rig import HabRig, actions_served, habilitations_rig


@pytest.fixture(scope="module")
async def actions_url(database_url: str) -> AsyncIterator[str]:
    async with actions_served(database_url) as url:
        yield url


@pytest.fixture
async def hab(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str
) -> AsyncIterator[HabRig]:
    async with habilitations_rig(tmp_path, database_url, db_engine, actions_url) as rig:
        yield rig
