"""Prove a service's models and its Alembic migrations describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


async def schema_differences(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    schema = metadata.schema

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, parent: (
                    name == schema if type_ == "schema" else True
                ),
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    (type_ != "table" or obj.schema == schema) and name != "alembic_version"
                ),
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)
