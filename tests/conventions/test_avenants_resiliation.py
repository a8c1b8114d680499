"""After signature: avenants and versions, the three résiliation modes, renouvellement,
Annexe 2."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.conventions.schemas import ConventionOut
from tests.conventions.helpers import create, h, table_counts
from tests.support.contract import assert_reads_back
from tests.support.conventions import make_convention
from tests.support.personas import CAF_A, COLLECTIVITE_X, COLLECTIVITE_Y


async def _avenant(client: httpx.AsyncClient, cid: object, **body: object) -> httpx.Response:
    data = {"date_avenant": "2026-06-01", "objet": "Ajustement", **body}
    return await client.post(f"/api/v1/conventions/{cid}/avenants", json=data, headers=h())


async def test_avenant_only_on_a_signed_convention(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    resp = await _avenant(client, draft["id"], articles_modifies=["Article 4"])
    assert resp.status_code == 409
    assert "pas encore signée" in resp.json()["detail"]


async def test_avenants_keep_every_version_of_the_convention(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client, date_debut=dt.date(2025, 1, 1))
    first = await _avenant(
        client,
        cid,
        objet="Entrée de la collectivité Y et nouveaux objectifs",
        articles_modifies=["Article 2", "Article 4", "Annexe 2"],
        ajout_signataires=[{"organisation_id": str(COLLECTIVITE_Y), "representant": "Maire"}],
        objectifs_partages=["Soutenir les parents"],
    )
    assert first.status_code == 201, first.text
    assert first.json()["numero"] == 1
    assert first.json()["modifications"]["ajout_signataires"] == [str(COLLECTIVITE_Y)]
    assert sorted(first.json()["signataires_concernes"]) == sorted(
        str(o) for o in (CAF_A, COLLECTIVITE_X, COLLECTIVITE_Y)
    )
    second = await _avenant(
        client,
        cid,
        objet="Prolongation d'un an",
        prolongation_un_an=True,
        signataires_concernes=[str(CAF_A), str(COLLECTIVITE_X)],
    )
    assert second.status_code == 201, second.text
    conv = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    # A one-year prolongation may pass the N+4 limit by that year.
    assert conv["date_fin"] == "2030-12-31"
    assert conv["numero_version"] == 3
    by_id = {s["organisation_id"]: s for s in conv["signataires"]}
    assert by_id[str(COLLECTIVITE_Y)]["avenant_numero"] == 1
    assert by_id[str(COLLECTIVITE_Y)]["date_signature"] == "2026-06-01"

    versions = (await client.get(f"/api/v1/conventions/{cid}/versions", headers=h())).json()
    assert [v["numero"] for v in versions] == [1, 2, 3]
    assert versions[0]["avenant_id"] is None
    assert versions[1]["avenant_id"] == first.json()["id"]
    v1 = (await client.get(f"/api/v1/conventions/{cid}/versions/1", headers=h())).json()
    v2 = (await client.get(f"/api/v1/conventions/{cid}/versions/2", headers=h())).json()
    v3 = (await client.get(f"/api/v1/conventions/{cid}/versions/3", headers=h())).json()
    assert len(v1["contenu"]["signataires"]) == 2
    assert len(v2["contenu"]["signataires"]) == 3
    assert v1["contenu"]["objectifs_partages"] == []
    assert v2["contenu"]["objectifs_partages"] == ["Soutenir les parents"]
    assert v2["contenu"]["date_fin"] == "2029-12-31"
    assert v3["contenu"]["date_fin"] == "2030-12-31"
    missing = await client.get(f"/api/v1/conventions/{cid}/versions/9", headers=h())
    assert missing.status_code == 404
    listed = (await client.get(f"/api/v1/conventions/{cid}/avenants", headers=h())).json()
    assert [a["objet"] for a in listed] == [
        "Entrée de la collectivité Y et nouveaux objectifs",
        "Prolongation d'un an",
    ]


async def test_avenant_refusals(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    cid = await make_convention(client)
    await _avenant(client, cid, prolongation_un_an=True)
    before = await table_counts(db_engine)
    twice = await _avenant(client, cid, prolongation_un_an=True)
    assert twice.status_code == 409
    too_far = await _avenant(client, cid, nouvelle_date_fin="2031-01-01")
    assert too_far.status_code == 422
    socle = await _avenant(client, cid, thematiques=["petite enfance", "enfance", "jeunesse"])
    assert socle.status_code == 409
    already = await _avenant(
        client, cid, ajout_signataires=[{"organisation_id": str(COLLECTIVITE_X)}]
    )
    assert already.status_code == 409
    stranger = await _avenant(
        client, cid, articles_modifies=["Article 3"], signataires_concernes=[str(COLLECTIVITE_Y)]
    )
    assert stranger.status_code == 422
    empty = await _avenant(client, cid)
    assert empty.status_code == 422
    assert await table_counts(db_engine) == before


@pytest.mark.parametrize(
    ("mode", "notification", "effet", "etat"),
    [
        # One month after the registered letter: still active today.
        ("avec mise en demeure", "2026-11-10", "2026-12-10", "active"),
        # By the Caf, immediate.
        ("sans mise en demeure", "2026-11-24", "2026-11-24", "résiliée"),
        # Six months' notice.
        ("consentement mutuel", "2026-10-31", "2027-04-30", "active"),
    ],
)
async def test_the_three_resiliation_modes(
    client: httpx.AsyncClient, mode: str, notification: str, effet: str, etat: str
) -> None:
    cid = await make_convention(client)
    resp = await client.post(
        f"/api/v1/conventions/{cid}/resiliation",
        json={"mode": mode, "date_notification": notification, "motif": "Non-respect"},
        headers=h(),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["statut"] == "résiliée"
    assert body["resiliation"] == {
        "mode": mode,
        "date_notification": notification,
        "motif": "Non-respect",
        "date_effet": effet,
    }
    assert body["etat"] == etat
    # Once recorded, nothing else may happen to it.
    assert body["transitions_disponibles"] == []
    # The detail (written from plain rows) says exactly what the transition answered.
    detail = await client.get(f"/api/v1/conventions/{cid}", headers=h())
    assert_reads_back(detail.content, ConventionOut)
    assert detail.json() == body
    again = await client.post(
        f"/api/v1/conventions/{cid}/resiliation",
        json={"mode": mode, "motif": "Encore"},
        headers=h(),
    )
    assert again.status_code == 409
    avenant = await _avenant(client, cid, articles_modifies=["Article 1"])
    assert avenant.status_code == 409


async def test_resiliation_refusals(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    resp = await client.post(
        f"/api/v1/conventions/{draft['id']}/resiliation",
        json={"mode": "sans mise en demeure", "motif": "x"},
        headers=h(),
    )
    assert resp.status_code == 409
    ending = await make_convention(
        client, date_debut=dt.date(2023, 1, 1), date_fin=dt.date(2027, 1, 31)
    )
    late = await client.post(
        f"/api/v1/conventions/{ending}/resiliation",
        json={"mode": "consentement mutuel", "motif": "Fin anticipée"},
        headers=h(),
    )
    assert late.status_code == 409
    assert "après la fin" in late.json()["detail"]
    future = await client.post(
        f"/api/v1/conventions/{ending}/resiliation",
        json={"mode": "sans mise en demeure", "date_notification": "2026-12-01", "motif": "x"},
        headers=h(),
    )
    assert future.status_code == 422
    echue = await make_convention(
        client, date_debut=dt.date(2020, 1, 1), date_fin=dt.date(2024, 12, 31)
    )
    got = (await client.get(f"/api/v1/conventions/{echue}", headers=h())).json()
    assert got["etat"] == "échue"
    assert got["transitions_disponibles"] == ["renouveler"]
    resp = await client.post(
        f"/api/v1/conventions/{echue}/resiliation",
        json={"mode": "sans mise en demeure", "motif": "x"},
        headers=h(),
    )
    assert resp.status_code == 409


async def test_renouvellement_links_and_carries_signatories(client: httpx.AsyncClient) -> None:
    old = await make_convention(
        client, date_debut=dt.date(2022, 1, 1), date_fin=dt.date(2026, 12, 31), titre="CTG 2022"
    )
    resp = await client.post(
        f"/api/v1/conventions/{old}/renouvellement", json={"titre": "CTG 2027"}, headers=h()
    )
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["statut"] == "en préparation"
    assert new["precedente_id"] == str(old)
    assert (new["date_debut"], new["date_fin"]) == ("2027-01-01", "2031-12-31")
    assert [s["organisation_id"] for s in new["signataires"]] == [str(CAF_A), str(COLLECTIVITE_X)]
    assert all(s["date_signature"] is None for s in new["signataires"])
    assert new["thematiques"] == ["petite enfance", "enfance", "jeunesse", "parentalité"]
    detail = await client.get(f"/api/v1/conventions/{new['id']}", headers=h())
    assert_reads_back(detail.content, ConventionOut)
    assert detail.json() == new
    previous = (await client.get(f"/api/v1/conventions/{old}", headers=h())).json()
    assert previous["suivante_id"] == new["id"]
    assert "renouveler" not in previous["transitions_disponibles"]
    twice = await client.post(f"/api/v1/conventions/{old}/renouvellement", headers=h())
    assert twice.status_code == 409
    draft = await client.post(f"/api/v1/conventions/{new['id']}/renouvellement", headers=h())
    assert draft.status_code == 409


async def test_resiliee_cannot_be_renewed(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client)
    await client.post(
        f"/api/v1/conventions/{cid}/resiliation",
        json={"mode": "sans mise en demeure", "motif": "x"},
        headers=h(),
    )
    resp = await client.post(f"/api/v1/conventions/{cid}/renouvellement", headers=h())
    assert resp.status_code == 409
    url = f"/api/v1/conventions/{cid}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    patch = await client.patch(url, json={"titre": "Autre"}, headers=h(**{"If-Match": etag}))
    assert patch.status_code == 409
    assert "résiliée" in patch.json()["detail"]


async def test_annexe_2_equipements_per_signatory(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    url = f"/api/v1/conventions/{draft['id']}/equipements"
    rpe = await client.post(
        url,
        json={
            "organisation_id": str(COLLECTIVITE_X),
            "type": "RPE",
            "nom": "RPE de X",
            "adresse": "1 place de la Mairie",
        },
        headers=h(),
    )
    assert rpe.status_code == 201, rpe.text
    outsider = await client.post(
        url,
        json={"organisation_id": str(COLLECTIVITE_Y), "type": "LAEP", "nom": "LAEP"},
        headers=h(),
    )
    assert outsider.status_code == 422
    listed = (await client.get(url, headers=h())).json()
    assert [(e["type"], e["nom"]) for e in listed] == [("RPE", "RPE de X")]
    removed = await client.delete(f"{url}/{rpe.json()['id']}", headers=h())
    assert removed.status_code == 204
    assert (await client.get(url, headers=h())).json() == []
