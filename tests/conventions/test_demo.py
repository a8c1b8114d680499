"""The demo step loads the story once and is idempotent."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop import demo_ids as ids
from coop.demo_conventions import demo_step
from kernel.convention_ref import ConventionRef
from kernel.principal import OrganisationKind, Role
from tests.conventions.helpers import h, table_counts
from tests.conventions.test_internal import service_headers
from tests.support.personas import person


async def test_demo_step_is_idempotent(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    async with AsyncSession(db_engine) as session:
        first = await demo_step(session)
        await session.commit()
    counts = await table_counts(db_engine)
    async with AsyncSession(db_engine) as session:
        second = await demo_step(session)
        await session.commit()
    assert first.endswith("5 conventions ajoutées")
    assert second.startswith("0 organisations, 0 conventions")
    assert await table_counts(db_engine) == counts

    agent = person("demo-isere", (ids.CAF_ISERE, OrganisationKind.caf, Role.agent))
    listed = (await client.get("/api/v1/conventions", headers=h(agent))).json()["items"]
    etats = {c["titre"]: c["etat"] for c in listed}
    assert etats == {
        "CTG de Voiron 2025-2029": "active",
        "CTG du Grésivaudan 2024-2028": "active",
        "CTG de Vienne 2022-2026": "active",
        "CTG de Vienne 2027-2031": "en préparation",
    }
    vienne = (
        await client.get(f"/api/v1/conventions/{ids.CONVENTION_VIENNE_2022}", headers=h(agent))
    ).json()
    assert vienne["suivante_id"] == str(ids.CONVENTION_VIENNE_2027)
    greso = f"/api/v1/conventions/{ids.CONVENTION_GRESIVAUDAN}"
    versions = (await client.get(f"{greso}/versions", headers=h(agent))).json()
    assert [v["numero"] for v in versions] == [1, 2]
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
