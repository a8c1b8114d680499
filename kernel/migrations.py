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


def create_history(schema: str) -> None:
    """A migration's step: the app's `historique` table as `kernel.history` first
    declared it (frozen here: a later change is a migration of its own), append-only."""
    op.create_table(
        "historique",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=True),
        sa.Column("objet_type", sa.String(length=40), nullable=False),
        sa.Column("objet_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("objet_libelle", sa.String(length=300), nullable=True),
        sa.Column("evenement", sa.String(length=60), nullable=False),
        sa.Column(
            "changements",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("motif", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("auteur_id", sa.String(length=200), nullable=False),
        sa.Column("auteur_nom", sa.String(length=300), nullable=True),
        sa.Column("client", sa.String(length=255), nullable=True),
        sa.Column(
            "le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_historique")),
        schema=schema,
    )
    for columns in (
        ["convention_id", "le", "id"],
        ["objet_id", "le", "id"],
        ["parent_id", "le", "id"],
    ):
        op.create_index(
            op.f(f"ix_historique_{'_'.join(columns)}"), "historique", columns, schema=schema
        )
    make_append_only(schema, "historique")


def create_outbox(schema: str) -> None:
    """A migration's step: the app's `evenements` table as `kernel.outbox` first
    declared it (frozen here: a later change is a migration of its own)."""
    op.create_table(
        "evenements",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column(
            "le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("convention_id", sa.Uuid(), nullable=True),
        sa.Column("auteur_id", sa.String(length=200), nullable=True),
        sa.Column(
            "donnees",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_evenements")),
        sa.UniqueConstraint("id", name=op.f("uq_evenements_id")),
        schema=schema,
    )
    op.create_index(op.f("ix_evenements_le"), "evenements", ["le"], schema=schema)


def next_change_seq_body(schema: str, lock: str, sequence: str = "change_seq") -> str:
    """The body of `<schema>.next_change_seq()` (see `create_next_change_seq`)."""
    return f"""
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('{lock}'));
            RETURN nextval('{schema}.{sequence}');
        END
        """


def next_change_seq_sql(schema: str, lock: str, sequence: str = "change_seq") -> str:
    """The statement creating `<schema>.next_change_seq()` (see `create_next_change_seq`)."""
    return (
        f"CREATE FUNCTION {schema}.next_change_seq() RETURNS bigint "
        f"LANGUAGE plpgsql VOLATILE AS $${next_change_seq_body(schema, lock, sequence)}$$"
    )


def create_next_change_seq(schema: str, lock: str, sequence: str = "change_seq") -> None:
    """A migration's step: `<schema>.next_change_seq()`, a number of `<schema>.<sequence>`
    drawn under the lock of `kernel.commit_order.CommitOrder(lock)`, held until commit:
    the default of columns numbering rows in commit order (the actions' migration 0002
    and the notifications' 0001 spelled the same function by hand)."""
    op.execute(next_change_seq_sql(schema, lock, sequence))


def make_append_only(schema: str, table: str) -> None:
    """A migration's step: the database refuses any UPDATE or DELETE of `table`'s rows,
    whoever asks (the application's role included). TRUNCATE is the owner's alone."""
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION "{schema}".refuse_rewriting_history() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{schema}"."{table}" '
        f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse_rewriting_history()'
    )


def name_former_authors(
    table: str, trigger: str, *, id_column: str = "auteur_id", name_column: str = "auteur_nom"
) -> None:
    """A migration's step: the rows of `table` written before authors' names were
    recorded get the name the gateway's schema knows for their `id_column` (a person's
    last recorded name, else a machine client's registered name), when that schema is in
    the same database (the apps may be deployed on databases of their own). The one
    rewrite an append-only table ever sees: its `trigger` is off meanwhile, by the
    migration (the table's owner)."""
    # Names below are the migration's own, never input.
    update = (
        f"UPDATE {table} SET {name_column} = COALESCE("  # noqa: S608
        f"(SELECT p.name FROM gateway.persons p WHERE p.id::text = {id_column}), "
        f"(SELECT c.nom FROM gateway.clients c WHERE c.id::text = {id_column})) "
        f"WHERE {name_column} IS NULL"
    )
    op.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{trigger}"')
    op.execute(
        "DO $$ BEGIN IF to_regclass('gateway.persons') IS NOT NULL "
        "AND to_regclass('gateway.clients') IS NOT NULL THEN "
        f"EXECUTE $q${update}$q$; END IF; END $$"
    )
    op.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{trigger}"')


def add_author_name(schema: str, table: str, author: str, *, objet: str, at: str) -> None:
    """A migration's step: `<author>_nom` (the actor's display name, `String(300)` like
    the history's) beside a stored author id, filled from the app's `historique`.

    A row takes the name the history gave the same author on the same object
    (`objet`: the column holding the history's `objet_id`) nearest in time (`at`); else
    the name the history last gave that author anywhere; else NULL (nobody recorded)."""
    column = f"{author}_nom"
    op.add_column(table, sa.Column(column, sa.String(length=300), nullable=True), schema=schema)
    op.execute(
        f"""
        UPDATE "{schema}"."{table}" t SET "{column}" = (
            SELECT h.auteur_nom FROM "{schema}".historique h
            WHERE h.objet_id = t."{objet}" AND h.auteur_id = t."{author}"
              AND h.auteur_nom IS NOT NULL
            ORDER BY abs(extract(epoch FROM h.le - t."{at}")) NULLS LAST, h.id DESC
            LIMIT 1)
        WHERE t."{author}" IS NOT NULL
        """  # noqa: S608 (identifiers given by the migration)
    )
    op.execute(
        f"""
        UPDATE "{schema}"."{table}" t SET "{column}" = n.auteur_nom
        FROM (SELECT DISTINCT ON (auteur_id) auteur_id, auteur_nom
              FROM "{schema}".historique WHERE auteur_nom IS NOT NULL
              ORDER BY auteur_id, le DESC, id DESC) n
        WHERE t."{column}" IS NULL AND n.auteur_id = t."{author}"
        """  # noqa: S608 (identifiers given by the migration)
    )
