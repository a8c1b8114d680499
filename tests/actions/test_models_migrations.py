from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

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
    # 0007 brings back `syntheses` for the clients that still send them: the existing
    # bilans' are already in their first section, so none is read back twice.
    assert asyncio.run(_syntheses(scratch_url)) == {"{}"}


async def _syntheses(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {r["s"] for r in await conn.fetch("SELECT syntheses::text AS s FROM actions.bilans")}
    finally:
        await conn.close()


CONV_1, CONV_2 = uuid.uuid4(), uuid.uuid4()


async def _seed_0005(url: str) -> None:
    """Two conventions' plans with suivis in every state, one action abandoned."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for conv, axe in ((CONV_1, AXE_1), (CONV_2, AXE_2)):
            await conn.execute(
                "INSERT INTO actions.axes (id, convention_id, titre, position, version)"
                " VALUES ($1, $2, 'Accueillir', 1, 1)",
                axe,
                conv,
            )
        suivis = {
            # action (convention, axe, statut): its suivis (periode, etat, alerte)
            (CONV_1, AXE_1, "en cours"): [
                ("2026-T1", "brouillon", True),
                ("2025-T4", "validé", False),
            ],
            (CONV_1, AXE_1, "réalisée"): [("2026-T1", "soumis", False)],
            (CONV_1, AXE_1, "abandonnée"): [("2026-T1", "validé", True)],
            (CONV_1, AXE_1, "à venir"): [],
            (CONV_2, AXE_2, "en pause"): [("2026-T1", "à compléter", True)],
        }
        for position, ((conv, axe, statut), rows) in enumerate(suivis.items(), start=1):
            action_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO actions.actions (id, convention_id, axe_id, position, titre,"
                " statut, porteur_ids, version) VALUES ($1, $2, $3, $4, 'Créer un RPE', $5,"
                " ARRAY[]::uuid[], 1)",
                action_id,
                conv,
                axe,
                position,
                statut,
            )
            for periode, etat, alerte in rows:
                await conn.execute(
                    "INSERT INTO actions.suivis (id, action_id, convention_id, periode, etat,"
                    " revision, statut_action, alerte, valeurs, auteur, version)"
                    " VALUES ($1, $2, $3, $4, $5, 1, $6, $7, '[]', 'test', 1)",
                    uuid.uuid4(),
                    action_id,
                    conv,
                    periode,
                    etat,
                    statut,
                    alerte,
                )
    finally:
        await conn.close()


async def _counters(url: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        plans = {r[0]: r[1] for r in await conn.fetch("SELECT * FROM actions.compteurs_plans")}
        campagnes = {
            (r["convention_id"], r["periode"]): tuple(r)[2:]
            for r in await conn.fetch(
                "SELECT convention_id, periode, brouillon, soumis, valide, a_completer, alertes"
                " FROM actions.compteurs_campagnes"
            )
        }
        return plans, campagnes
    finally:
        await conn.close()


def test_existing_suivis_are_counted_by_the_migration(scratch_url: str) -> None:
    """Migration 0006 fills the campaign counters from the suivis already there: per
    convention its actions not abandoned; per convention and quarter their suivis per
    state and their alerts (an abandoned action's suivis count for nothing)."""
    upgrade("actions", scratch_url, "0005")
    asyncio.run(_seed_0005(scratch_url))
    upgrade("actions", scratch_url, "head")
    plans, campagnes = asyncio.run(_counters(scratch_url))
    assert plans == {CONV_1: 3, CONV_2: 1}
    # (brouillon, soumis, validé, à compléter, alertes)
    assert campagnes == {
        (CONV_1, "2026-T1"): (1, 1, 0, 0, 1),
        (CONV_1, "2025-T4"): (0, 0, 1, 0, 0),
        (CONV_2, "2026-T1"): (0, 0, 0, 1, 1),
    }


async def _seed_0012(url: str) -> dict[str, uuid.UUID]:
    """A suivi, its event, a bilan adopted and agreed, written before names were kept;
    the history of some of them."""
    ids = {name: uuid.uuid4() for name in ("axe", "action", "suivi", "bilan")}
    now = dt.datetime.now(dt.UTC)
    earlier = now - dt.timedelta(days=10)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            "INSERT INTO actions.axes (id, convention_id, titre, position, version)"
            " VALUES ($1, $2, 'Accueillir', 1, 1)",
            ids["axe"],
            CONV_1,
        )
        await conn.execute(
            "INSERT INTO actions.actions (id, convention_id, axe_id, position, titre, statut,"
            " porteur_ids, version) VALUES ($1, $2, $3, 1, 'RPE', 'en cours', '{}', 1)",
            ids["action"],
            CONV_1,
            ids["axe"],
        )
        await conn.execute(
            "INSERT INTO actions.suivis (id, action_id, convention_id, periode, etat, revision,"
            " statut_action, alerte, valeurs, auteur, version, updated_at)"
            " VALUES ($1, $2, $3, '2026-T1', 'brouillon', 1, 'en cours', false, '[]', 'p1', 2,"
            " $4)",
            ids["suivi"],
            ids["action"],
            CONV_1,
            now,
        )
        await conn.execute(
            "INSERT INTO actions.suivi_evenements (suivi_id, revision, evenement, etat_apres,"
            " auteur, contenu, at) VALUES ($1, 1, 'création', 'brouillon', 'p1', '{}', $2)",
            ids["suivi"],
            earlier,
        )
        await conn.execute(
            "INSERT INTO actions.bilans (id, convention_id, type, periode_debut, periode_fin,"
            " etat, sections, adoption_saisie_par, adoption_saisie_le, version,"
            " petite_enfance_transmissible) VALUES ($1, $2, 'bilan final', '2025-01-01',"
            " '2025-12-31', 'adopté', '{}', 'p1', $3, 1, false)",
            ids["bilan"],
            CONV_1,
            now,
        )
        await conn.execute(
            "INSERT INTO actions.accords_cdsf (bilan_id, collectivite_id, par)"
            " VALUES ($1, $2, 'p3')",
            ids["bilan"],
            uuid.uuid4(),
        )
        # p1 renamed between the suivi's creation and its last change; p3 never recorded.
        for name, le in (("Ancien Nom", earlier), ("Nouveau Nom", now)):
            await conn.execute(
                "INSERT INTO actions.historique (convention_id, objet_type, objet_id,"
                " evenement, auteur_id, auteur_nom, le)"
                " VALUES ($1, 'suivi', $2, 'modification', 'p1', $3, $4)",
                CONV_1,
                ids["suivi"],
                name,
                le,
            )
        return ids
    finally:
        await conn.close()


def test_existing_authors_are_named_from_the_history(scratch_url: str) -> None:
    """Migration 0013 (issue 23): rows written before names were kept take the name the
    history gave their author on that object nearest in time, else the author's last
    recorded name, else NULL."""
    upgrade("actions", scratch_url, "0012")
    ids = asyncio.run(_seed_0012(scratch_url))
    upgrade("actions", scratch_url, "head")

    async def names() -> dict[str, Any]:
        conn = await asyncpg.connect(asyncpg_dsn(scratch_url))
        try:
            return {
                "suivi": await conn.fetchval("SELECT auteur_nom FROM actions.suivis"),
                "evenement": await conn.fetchval("SELECT auteur_nom FROM actions.suivi_evenements"),
                "adoption": await conn.fetchval(
                    "SELECT adoption_saisie_par_nom FROM actions.bilans WHERE id = $1",
                    ids["bilan"],
                ),
                "accord": await conn.fetchval("SELECT par_nom FROM actions.accords_cdsf"),
            }
        finally:
            await conn.close()

    assert asyncio.run(names()) == {
        "suivi": "Nouveau Nom",
        "evenement": "Ancien Nom",
        "adoption": "Nouveau Nom",
        "accord": None,
    }
