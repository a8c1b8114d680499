from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import asyncpg_dsn
from kernel.migrations import upgrade
from services.actions.models import metadata
from tests.support.migrations import schema_differences


async def test_models_and_migrations_describe_the_same_schema(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, metadata) == []


@pytest.fixture
async def scratch_url(database_url: str, db_engine: AsyncEngine) -> AsyncIterator[str]:
    """A database of its own, to migrate step by step."""
    name = f"{make_url(database_url).database}_steps"
    async with db_engine.connect() as conn:
        admin = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await admin.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


AXE_1, AXE_2, GONE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
CONVENTION = uuid.uuid4()


async def _seed_0003(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for axe, position, titre in ((AXE_1, 1, "Accueillir"), (AXE_2, 2, "Soutenir")):
            await conn.execute(
                "INSERT INTO actions.axes (id, convention_id, titre, position, version)"
                " VALUES ($1, $2, $3, $4, 1)",
                axe,
                CONVENTION,
                titre,
                position,
            )
        bilans = [
            ("point d'étape annuel", {str(AXE_2): "Deux LAEP.", str(AXE_1): "Une MAM."}),
            ("bilan final", {str(GONE): "Axe supprimé depuis."}),
            ("bilan intermédiaire", {}),
        ]
        for type_bilan, syntheses in bilans:
            await conn.execute(
                "INSERT INTO actions.bilans (id, convention_id, type, periode_debut,"
                " periode_fin, etat, syntheses, petite_enfance_transmissible, version)"
                " VALUES ($1, $2, $3, $4, $5, 'brouillon', $6::jsonb, false, 1)",
                uuid.uuid4(),
                CONVENTION,
                type_bilan,
                dt.date(2025, 1, 1),
                dt.date(2025, 12, 31),
                json.dumps(syntheses),
            )
    finally:
        await conn.close()


async def _sections(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT type, sections::text FROM actions.bilans")
        return {r["type"]: json.loads(r["sections"]) for r in rows}
    finally:
        await conn.close()


def test_existing_bilans_keep_their_text_in_their_kinds_first_section(scratch_url: str) -> None:
    """Migration 0004 (art. 9's sections per kind): each bilan's free-form syntheses per
    axe become its kind's first section (état d'avancement, avancées, résultats), one
    paragraph per axe in the plan's order, headed by the axe's title."""
    upgrade("actions", scratch_url, "0003")
    asyncio.run(_seed_0003(scratch_url))
    upgrade("actions", scratch_url, "head")
    assert asyncio.run(_sections(scratch_url)) == {
        "point d'étape annuel": {
            "etat_avancement": "Accueillir : Une MAM.\n\nSoutenir : Deux LAEP."
        },
        "bilan final": {"resultats": "Axe supprimé depuis."},
        "bilan intermédiaire": {},
    }
