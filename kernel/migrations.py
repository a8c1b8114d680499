"""Alembic plumbing shared by every service's own migration tree.

Each ``migrations/<service>/env.py`` calls `run_env` with its metadata; the version
table lives in the service's own schema, and autogenerate only looks at that schema.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from kernel.database import asyncpg_url

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_ROOT / service))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def _include_object_for(schema: str) -> Any:
    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return bool(obj.schema == schema)
        return True

    return include_object


def _configure(connection: Connection, metadata: MetaData, schema: str) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table="alembic_version",
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, parent: name == schema if type_ == "schema" else True,
        include_object=_include_object_for(schema),
        compare_type=True,
        compare_server_default=True,
    )


async def _run_async(url: str, metadata: MetaData, schema: str) -> None:
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:

            def migrate(sync_conn: Connection) -> None:
                _configure(sync_conn, metadata, schema)
                with context.begin_transaction():
                    context.run_migrations()

            await conn.run_sync(migrate)
    finally:
        await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """Body of a service's env.py (online mode only: we always migrate a live database)."""
    schema = metadata.schema
    assert schema, "each service's metadata names its own schema"
    url = context.config.attributes.get("database_url")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection, metadata, schema)
        with context.begin_transaction():
            context.run_migrations()
        return
    assert url, "pass database_url in the Alembic config attributes"
    asyncio.run(_run_async(url, metadata, schema))


def execute_script(sql: str, schema: str) -> None:
    """Run a multi-statement SQL script (a library's own schema, written for its search
    path) inside the migration's transaction, `schema` first on the search path.

    Through the driver connection (SQLAlchemy's `run_async`): asyncpg runs a script of
    several statements only outside a prepared statement."""
    driver = op.get_bind().connection.dbapi_connection
    assert driver is not None
    script = f'SET LOCAL search_path TO "{schema}";\n{sql}'
    driver.run_async(lambda conn: conn.execute(script))


def create_idempotency_keys(schema: str) -> None:
    """A migration's step: the app's `idempotency_keys` table as `kernel.idempotency`
    first declared it (frozen here: a later change is a migration of its own)."""
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "headers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], schema=schema
    )
