"""Fixtures of the habilitations tests: the gateway with its database grants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.habilitations.rig import HabRig, habilitations_rig


@pytest.fixture
async def hab(tmp_path: Path, database_url: str, db_engine: AsyncEngine) -> AsyncIterator[HabRig]:
    async with habilitations_rig(tmp_path, database_url, db_engine) as rig:
        yield rig
