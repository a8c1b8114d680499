from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import metadata
from tests.support.migrations import schema_differences


async def test_models_and_migrations_describe_the_same_schema(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, metadata) == []
