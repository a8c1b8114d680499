"""The demo step loads the story once and is idempotent."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop import demo_ids as ids
from coop.demo_actions import demo_step as actions_demo_step
from coop.demo_conventions import demo_step
from kernel.convention_ref import ConventionRef
from kernel.principal import OrganisationKind, Role
from tests.conventions.helpers import h, table_counts
from tests.conventions.test_internal import service_headers
from tests.support.conventions import with_actions
from tests.support.personas import person


async def test_demo_step_is_idempotent(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    async with AsyncSession(db_engine) as session:
        first = await demo_step(session)
        await session.commit()
    counts = await table_counts(db_engine)
    async with AsyncSession(db_engine) as session:
        second = await demo_step(session)
        await session.commit()
    assert first.endswith("4 conventions ajoutées")
    assert second.startswith("0 organisations, 0 conventions")
    assert await table_counts(db_engine) == counts

    agent = person("demo-isere", (ids.CAF_ISERE, OrganisationKind.caf, Role.agent))
    listed = (await client.get("/api/v1/conventions", headers=h(agent))).json()["items"]
    etats = {c["titre"]: c["etat"] for c in listed}
    assert etats == {
        "CTG de Voiron 2025-2029": "active",
        "CTG du Grésivaudan 2024-2028": "active",
        "CTG de Vienne 2022-2026": "active",
    }
    # Recorded after the fact, before the 2026 model: its socle's warning shows.
    vienne = (
        await client.get(f"/api/v1/conventions/{ids.CONVENTION_VIENNE_2022}", headers=h(agent))
    ).json()
    assert (vienne["ctg_existante"], vienne["suivante_id"]) == (True, None)
    assert "petite enfance" in vienne["avertissements"][0]
    # Avenant n°2 changed Crolles' Annexe 2 only; a mise en demeure is pending.
    greso = f"/api/v1/conventions/{ids.CONVENTION_GRESIVAUDAN}"
    versions = (await client.get(f"{greso}/versions", headers=h(agent))).json()
    assert [v["numero"] for v in versions] == [1, 2, 3]
    avant, apres = [
        (await client.get(f"{greso}/versions/{n}", headers=h(agent))).json()["contenu"]
        for n in (2, 3)
    ]
    added = [e for e in apres["equipements"] if e not in avant["equipements"]]
    assert [(e["organisation_id"], e["nom"]) for e in added] == [
        (str(ids.CROLLES), "Micro-crèche Les Petits Pas")
    ]
    avenants = (await client.get(f"{greso}/avenants", headers=h(agent))).json()
    assert avenants[-1]["signataires_concernes"] == [str(ids.CAF_ISERE), str(ids.CROLLES)]
    pending = (await client.get(f"{greso}/mises-en-demeure", headers=h(agent))).json()
    assert [(m["statut"], m["destinataire_id"]) for m in pending] == [
        ("en cours", str(ids.LE_TOUVET))
    ]
    assert pending[0]["lettre_document_id"] == str(ids.DOCUMENT_MISE_EN_DEMEURE)
    voiron = (
        await client.get(f"/api/v1/conventions/{ids.CONVENTION_VOIRON}/schema-ao", headers=h(agent))
    ).json()
    assert voiron["vaut_schema_ao"] is True


async def test_the_other_demos_replica_rows_match_the_conventions_demo(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """actions and documents load these rows before the feed runs: they must say what
    the conventions service says (signatories included), or scope would differ."""
    async with AsyncSession(db_engine) as session:
        await demo_step(session)
        await session.commit()
    for expected in ids.replica_refs():
        resp = await client.get(
            f"/internal/v1/conventions/{expected.id}/reference", headers=service_headers()
        )
        assert resp.status_code == 200, resp.text
        served = ConventionRef.model_validate(resp.json())
        assert set(served.signataire_ids) == set(expected.signataire_ids), expected.titre
        assert served.model_dump(exclude={"seq", "signataire_ids"}) == expected.model_dump(
            exclude={"seq", "signataire_ids"}
        )


async def test_the_tour_s_renewals_answer_as_the_readme_says(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """The README tour renews Vienne's CTG, whose bilan final the actions demo adopted
    (201), and tries Voiron's, which has none (409 naming it): 002 "L'évaluation est un
    préalable à tout renouvellement"."""
    async with AsyncSession(db_engine) as session:
        await demo_step(session)
        await actions_demo_step(session)
        await session.commit()
    agent = person("demo-isere", (ids.CAF_ISERE, OrganisationKind.caf, Role.agent))
    async with with_actions(database_url, dt.datetime.now(dt.UTC).date()) as apps:
        refused = await apps.conventions.post(
            f"/api/v1/conventions/{ids.CONVENTION_VOIRON}/renouvellement", headers=h(agent)
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["manquants"][0]["code"] == "bilan_final_adopte"
        renewed = await apps.conventions.post(
            f"/api/v1/conventions/{ids.CONVENTION_VIENNE_2022}/renouvellement", headers=h(agent)
        )
        assert renewed.status_code == 201, renewed.text
        assert (renewed.json()["precedente_id"], renewed.json()["etat"]) == (
            str(ids.CONVENTION_VIENNE_2022),
            "en préparation",
        )
