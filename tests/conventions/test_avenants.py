"""Avenants: every change to a signed convention, its annexes included, with every version
kept; the one-year prolongation of the 2026 circular; Annexe 2 while in préparation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conventions.helpers import create, h, sign_all, table_counts
from tests.support.conventions import make_convention
from tests.support.personas import CAF_A, CAF_A_AGENT, COLLECTIVITE_X, COLLECTIVITE_Y


async def _avenant(client: httpx.AsyncClient, cid: object, **body: object) -> httpx.Response:
    data = {"date_avenant": "2026-06-01", "objet": "Ajustement", **body}
    return await client.post(f"/api/v1/conventions/{cid}/avenants", json=data, headers=h())


async def _version(client: httpx.AsyncClient, cid: object, numero: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conventions/{cid}/versions/{numero}", headers=h())
    assert resp.status_code == 200, resp.text
    contenu: dict[str, Any] = resp.json()["contenu"]
    return contenu


async def _signed_with_annexes(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A signed convention of X and Y, each with one équipement in Annexe 2."""
    draft = await create(
        client,
        signataires=[
            {"organisation_id": str(CAF_A)},
            {"organisation_id": str(COLLECTIVITE_X)},
            {"organisation_id": str(COLLECTIVITE_Y)},
        ],
    )
    cid = draft["id"]
    ids = {}
    for org, nom in ((COLLECTIVITE_X, "RPE de X"), (COLLECTIVITE_Y, "LAEP de Y")):
        resp = await client.post(
            f"/api/v1/conventions/{cid}/equipements",
            json={"organisation_id": str(org), "type": "RPE", "nom": nom},
            headers=h(),
        )
        assert resp.status_code == 201, resp.text
        ids[nom] = resp.json()["id"]
    await sign_all(client, cid, [CAF_A, COLLECTIVITE_X, COLLECTIVITE_Y], "2025-01-01")
    signed = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    assert signed.status_code == 200, signed.text
    return cid, ids


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
        articles_modifies=["Article 2", "Article 4"],
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
        objet="Fin avancée d'un an",
        nouvelle_date_fin="2028-12-31",
        signataires_concernes=[str(CAF_A), str(COLLECTIVITE_X)],
    )
    assert second.status_code == 201, second.text
    conv = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert conv["date_fin"] == "2028-12-31"
    assert conv["numero_version"] == 3
    by_id = {s["organisation_id"]: s for s in conv["signataires"]}
    assert by_id[str(COLLECTIVITE_Y)]["avenant_numero"] == 1
    assert by_id[str(COLLECTIVITE_Y)]["date_signature"] == "2026-06-01"

    versions = (await client.get(f"/api/v1/conventions/{cid}/versions", headers=h())).json()
    assert [v["numero"] for v in versions] == [1, 2, 3]
    assert versions[0]["avenant_id"] is None
    assert versions[1]["avenant_id"] == first.json()["id"]
    v1, v2, v3 = [await _version(client, cid, n) for n in (1, 2, 3)]
    assert len(v1["signataires"]) == 2
    assert len(v2["signataires"]) == 3
    assert v1["objectifs_partages"] == []
    assert v2["objectifs_partages"] == ["Soutenir les parents"]
    assert v2["date_fin"] == "2029-12-31"
    assert v3["date_fin"] == "2028-12-31"
    missing = await client.get(f"/api/v1/conventions/{cid}/versions/9", headers=h())
    assert missing.status_code == 404
    listed = (await client.get(f"/api/v1/conventions/{cid}/avenants", headers=h())).json()
    assert [a["objet"] for a in listed] == [
        "Entrée de la collectivité Y et nouveaux objectifs",
        "Fin avancée d'un an",
    ]
    # Their author named beside the id, as named when they acted (issue 23).
    assert {(a["auteur"], a["auteur_nom"]) for a in listed} == {
        (CAF_A_AGENT.subject, "Caf A Agent")
    }


async def test_an_avenant_changes_the_annexes_and_the_versions_show_them_before_and_after(
    client: httpx.AsyncClient,
) -> None:
    """003 art. 11: "Toute modification fera l'objet d'un avenant par les parties. Cet
    avenant devra notamment préciser toutes les modifications apportées à la convention
    d'origine ainsi qu'à ses annexes." Annexe 2, Annexe 4 (COPIL) and the objectifs
    partagés change after signature through an avenant only."""
    cid, ids = await _signed_with_annexes(client)
    direct = await client.post(
        f"/api/v1/conventions/{cid}/equipements",
        json={"organisation_id": str(COLLECTIVITE_X), "type": "LAEP", "nom": "LAEP de X"},
        headers=h(),
    )
    assert direct.status_code == 409
    assert "avenant" in direct.json()["detail"]
    copil = {"presidence": "copilotage", "reunions_par_an": 1, "commissions": ["Petite enfance"]}
    resp = await _avenant(
        client,
        cid,
        objet="Nouvelle crèche, COPIL annuel",
        equipements_ajoutes=[
            {
                "organisation_id": str(COLLECTIVITE_X),
                "type": "EAJE PSU",
                "nom": "Crèche des Tilleuls",
                "adresse": "2 rue des Tilleuls",
            }
        ],
        equipements_retires=[ids["RPE de X"]],
        copil=copil,
        objectifs_partages=["Ouvrir 20 places d'accueil"],
    )
    assert resp.status_code == 201, resp.text
    avenant = resp.json()
    # The annexes it changed are named, as the article wants.
    assert avenant["articles_modifies"] == ["Annexe 2", "Annexe 4"]
    changes = avenant["modifications"]
    assert [e["nom"] for e in changes["equipements"]["ajoutes"]] == ["Crèche des Tilleuls"]
    assert [e["id"] for e in changes["equipements"]["retires"]] == [ids["RPE de X"]]
    assert changes["copil"]["avant"]["presidence"] == "alternée"
    assert changes["copil"]["apres"] == {**copil, "secretariat": None}
    assert changes["objectifs_partages"]["apres"] == ["Ouvrir 20 places d'accueil"]

    before, after = await _version(client, cid, 1), await _version(client, cid, 2)
    assert sorted(e["nom"] for e in before["equipements"]) == ["LAEP de Y", "RPE de X"]
    assert sorted(e["nom"] for e in after["equipements"]) == ["Crèche des Tilleuls", "LAEP de Y"]
    assert (before["copil"]["reunions_par_an"], after["copil"]["reunions_par_an"]) == (2, 1)
    listed = (await client.get(f"/api/v1/conventions/{cid}/equipements", headers=h())).json()
    assert sorted(e["nom"] for e in listed) == ["Crèche des Tilleuls", "LAEP de Y"]
    conv = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert conv["copil"]["presidence"] == "copilotage"
    assert conv["numero_version"] == 2


async def test_an_avenant_changes_only_the_annexes_of_the_signatories_concerned(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """001 (circulaire C-2026-090): "Lorsque la CTG compte plusieurs signataires et que
    seuls certains d'entre eux souhaitent faire évoluer leurs engagements, l'avenant à la
    CTG fera évoluer uniquement l'annexe des signataires concernés." """
    cid, ids = await _signed_with_annexes(client)
    concerned = [str(CAF_A), str(COLLECTIVITE_X)]
    before = await table_counts(db_engine)
    other_added = await _avenant(
        client,
        cid,
        signataires_concernes=concerned,
        equipements_ajoutes=[
            {"organisation_id": str(COLLECTIVITE_Y), "type": "CLAS", "nom": "CLAS de Y"}
        ],
    )
    assert other_added.status_code == 422
    assert other_added.json()["errors"][0]["pointer"] == "/equipements_ajoutes/0/organisation_id"
    other_removed = await _avenant(
        client, cid, signataires_concernes=concerned, equipements_retires=[ids["LAEP de Y"]]
    )
    assert other_removed.status_code == 422
    assert "ne concerne pas" in other_removed.json()["errors"][0]["message"]
    unknown = await _avenant(client, cid, equipements_retires=[str(uuid.uuid4())])
    assert unknown.status_code == 422
    assert await table_counts(db_engine) == before

    own = await _avenant(
        client,
        cid,
        signataires_concernes=concerned,
        equipements_ajoutes=[
            {"organisation_id": str(COLLECTIVITE_X), "type": "CLAS", "nom": "CLAS de X"}
        ],
    )
    assert own.status_code == 201, own.text
    assert own.json()["signataires_concernes"] == concerned
    after = await _version(client, cid, 2)
    by_org = {(e["organisation_id"], e["nom"]) for e in after["equipements"]}
    assert by_org == {
        (str(COLLECTIVITE_X), "RPE de X"),
        (str(COLLECTIVITE_X), "CLAS de X"),
        (str(COLLECTIVITE_Y), "LAEP de Y"),
    }


async def test_prolongation_d_un_an_as_the_2026_circular_allows(client: httpx.AsyncClient) -> None:
    """001: "il est recommandé de renégocier les CTG arrivant à échéance au 31 décembre
    2025. En cas de blocage partenarial, un avenant de prolongation d'un an pourra être
    conclu avant le 31/12/2025". Recorded later (the tool came after it): allowed."""
    cid = await make_convention(
        client, date_debut=dt.date(2021, 1, 1), date_fin=dt.date(2025, 12, 31)
    )
    assert (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()["etat"] == "échue"
    blocage = "Fusion des communes en cours : le nouveau conseil n'est pas installé."
    resp = await _avenant(
        client,
        cid,
        date_avenant="2025-12-15",
        objet="Prolongation d'un an",
        prolongation_un_an=True,
        blocage_partenarial=blocage,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["modifications"]["blocage_partenarial"] == blocage
    assert resp.json()["modifications"]["dates"]["apres"] == ["2021-01-01", "2026-12-31"]
    conv = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    # One year past the N+4 limit, and running again.
    assert (conv["date_fin"], conv["etat"]) == ("2026-12-31", "active")
    twice = await _avenant(
        client,
        cid,
        date_avenant="2025-12-20",
        prolongation_un_an=True,
        blocage_partenarial=blocage,
    )
    assert twice.status_code == 409
    assert "déjà été prolongée" in twice.json()["detail"]


async def test_other_prolongations_are_refused_with_the_circular_s_explanation(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """001: the one-year prolongation is for "les CTG arrivant à échéance au 31 décembre
    2025 [...] en cas de blocage partenarial [...] conclu avant le 31/12/2025"."""
    ending_2025 = await make_convention(
        client, date_debut=dt.date(2021, 1, 1), date_fin=dt.date(2025, 12, 31)
    )
    running = await make_convention(client)
    blocage = {"prolongation_un_an": True, "blocage_partenarial": "Élections municipales"}
    before = await table_counts(db_engine)
    without_reason = await _avenant(
        client, ending_2025, date_avenant="2025-12-15", prolongation_un_an=True
    )
    assert without_reason.status_code == 422
    assert without_reason.json()["errors"][0]["pointer"] == "/blocage_partenarial"
    # Not ending on 31 December 2025.
    other_end = await _avenant(client, running, **blocage)
    assert other_end.status_code == 409
    assert "C-2026-090" in other_end.json()["detail"]
    assert "2029-12-31" in other_end.json()["detail"]
    # Concluded on 31 December 2025 itself, not before.
    too_late = await _avenant(client, ending_2025, date_avenant="2025-12-31", **blocage)
    assert too_late.status_code == 409
    assert "31 décembre 2025" in too_late.json()["detail"]
    # Past the N+4 limit by a new end date.
    past_limit = await _avenant(client, running, nouvelle_date_fin="2030-06-30")
    assert past_limit.status_code == 409
    assert past_limit.json()["date_fin_maximale"] == "2029-12-31"
    assert "C-2026-090" in past_limit.json()["detail"]
    assert await table_counts(db_engine) == before


async def test_avenant_refusals(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    cid = await make_convention(client)
    before = await table_counts(db_engine)
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
    inverted = await _avenant(client, cid, nouvelle_date_fin="2024-12-31")
    assert inverted.status_code == 422
    future = await _avenant(client, cid, date_avenant="2026-12-01", articles_modifies=["A"])
    assert future.status_code == 422
    before_signature = await _avenant(
        client, cid, date_avenant="2024-06-01", articles_modifies=["Article 1"]
    )
    assert before_signature.status_code == 422
    assert "précède la signature" in before_signature.json()["detail"]
    ended = await make_convention(
        client, date_debut=dt.date(2020, 1, 1), date_fin=dt.date(2024, 12, 31)
    )
    before = await table_counts(db_engine)
    late = await _avenant(client, ended, articles_modifies=["Article 1"])
    assert late.status_code == 409
    assert "échue" in late.json()["detail"]
    assert await table_counts(db_engine) == before


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
