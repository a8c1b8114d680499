"""The "vaut schéma d'AO" check on the competence set-ups of DOMAIN.md."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conventions.helpers import h
from tests.support.conventions import make_convention, seed_organisations
from tests.support.personas import CAF_A, stable_id

EPCI = stable_id("ao:epci")
GRANDE_SEULE = stable_id("ao:grande-commune-autonome")  # > 10 000, holds everything
GRANDE_MEMBRE = stable_id("ao:grande-commune-membre")  # > 10 000, planification at the EPCI
MOYENNE = stable_id("ao:commune-moyenne")  # 3 500 < pop <= 10 000: no schéma required
PETITE = stable_id("ao:petite-commune")  # < 3 500, member of the EPCI


def _commune(oid: uuid.UUID, nom: str, insee: str, pop: int, **extra: Any) -> dict[str, Any]:
    values = {
        "id": oid,
        "type": "Commune",
        "nom": nom,
        "departement": "38",
        "code_insee": insee,
        "population": pop,
        "ao_recenser": "commune",
        "ao_informer": "commune",
        "ao_planifier": "commune",
        "ao_qualite": "commune",
    }
    return {**values, **extra}


ORGS = [
    {"id": EPCI, "type": "EPCI", "nom": "CC du test", "departement": "38", "siren": "200000001"},
    _commune(GRANDE_SEULE, "Grande autonome", "38001", 25000),
    _commune(
        GRANDE_MEMBRE,
        "Grande membre",
        "38002",
        15000,
        epci_id=EPCI,
        ao_planifier="EPCI",
        ao_qualite="EPCI",
    ),
    _commune(MOYENNE, "Moyenne", "38003", 6000),
    _commune(PETITE, "Petite", "38004", 1200, epci_id=EPCI, ao_planifier="EPCI"),
]


async def _convention(
    client: httpx.AsyncClient, signataires: tuple[uuid.UUID, ...], rpe_for: uuid.UUID | None
) -> dict[str, Any]:
    cid = await make_convention(client, signataire_ids=signataires, signee=False)
    if rpe_for is not None:
        resp = await client.post(
            f"/api/v1/conventions/{cid}/equipements",
            json={"organisation_id": str(rpe_for), "type": "RPE", "nom": "RPE"},
            headers=h(),
        )
        assert resp.status_code == 201, resp.text
    for org in (CAF_A, *signataires):
        await client.patch(
            f"/api/v1/conventions/{cid}/signataires/{org}",
            json={"date_signature": "2025-01-01"},
            headers=h(),
        )
    signed = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    assert signed.status_code == 200, signed.text
    resp = await client.get(f"/api/v1/conventions/{cid}/schema-ao", headers=h())
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


async def test_schema_ao_setups(client: httpx.AsyncClient, database_url: str) -> None:
    await seed_organisations(database_url, extra=ORGS)

    # 1. A commune above 10 000 holding the planification signs, with an RPE: it stands.
    autonome = await _convention(client, (GRANDE_SEULE,), GRANDE_SEULE)
    assert autonome["vaut_schema_ao"] is True
    (c,) = autonome["communes"]
    assert (c["organisation_id"], c["titulaire_planification"]) == (str(GRANDE_SEULE), "commune")
    assert c["raisons"] == []

    # 2. Planification transferred to the EPCI, which signs (intercommunal CTG): it stands
    # for the member commune above 10 000; the small member is not concerned.
    inter = await _convention(client, (EPCI,), EPCI)
    assert inter["vaut_schema_ao"] is True
    assert [c["organisation_id"] for c in inter["communes"]] == [str(GRANDE_MEMBRE)]
    assert inter["communes"][0]["titulaire_id"] == str(EPCI)

    # 3. Planification at the EPCI, but only the commune signs: missing holder's signature.
    sans_epci = await _convention(client, (GRANDE_MEMBRE,), GRANDE_MEMBRE)
    assert sans_epci["vaut_schema_ao"] is False
    (c,) = sans_epci["communes"]
    assert c["titulaire_planification"] == "EPCI"
    assert any("n'est pas signataire" in r for r in c["raisons"])

    # 4. The commune holds the planification and signs, but Annexe 2 is missing (no RPE).
    sans_annexe = await _convention(client, (GRANDE_SEULE,), None)
    (c,) = sans_annexe["communes"]
    assert c["vaut_schema"] is False
    assert any("Annexe 2" in r for r in c["raisons"])
    assert any("RPE" in r for r in c["raisons"])

    # Communes at or below 10 000 inhabitants need no schéma: nothing to stand for.
    moyenne = await _convention(client, (MOYENNE,), MOYENNE)
    assert moyenne == {**moyenne, "vaut_schema_ao": False, "communes": []}


async def test_schema_ao_of_a_draft_says_it_is_not_signed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await seed_organisations(database_url, extra=ORGS)
    cid = await make_convention(client, signataire_ids=(GRANDE_SEULE,), signee=False)
    body = (await client.get(f"/api/v1/conventions/{cid}/schema-ao", headers=h())).json()
    assert body["vaut_schema_ao"] is False
    assert "La convention n'est pas signée." in body["communes"][0]["raisons"]
