"""Bilans: who drafts and adopts them, their sections per kind, when each is due,
frozen snapshot at adoption, CDSF agreements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.convention_ref import upsert_refs
from kernel.principal import OrganisationKind, Role
from services.actions.models import Bilan, convention_ref
from tests.actions.conftest import (
    CAF_A,
    COLLECTIVITE_Z,
    CONV_A,
    CONV_B,
    CONV_RESILIEE,
    Api,
    ref,
)
from tests.support.conventions import sections_completes
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_REFERENT,
    Y_CONTRIBUTEUR,
    person,
    stable_id,
)

CONV_EXISTANTE = stable_id("actions:convention-existante")
Z_REFERENT = person("z-referent", (COLLECTIVITE_Z, OrganisationKind.collectivite, Role.referent))


async def _plan(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    action = await api.action(
        CAF_A_AGENT,
        CONV_A,
        axe["id"],
        thematique="petite enfance",
        porteur_ids=[str(COLLECTIVITE_X), str(COLLECTIVITE_Z)],
        statut="en cours",
    )
    ind = (
        await api.post(
            CAF_A_AGENT,
            f"/api/v1/actions/{action['id']}/indicateurs",
            json={"libelle": "Places", "nature": "réalisation", "unite": "places"},
        )
    ).json()
    r = await api.put(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2025",
        json={"valeur": 40},
    )
    assert r.status_code == 201, r.text
    return axe, action, ind


async def test_adoption_freezes_a_snapshot(api: Api) -> None:
    _, action, ind = await _plan(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-12-31",
            "sections": {
                **sections_completes("bilan intermédiaire"),
                "avancees": "Deux micro-crèches ouvertes.",
            },
        },
    )
    assert r.status_code == 201, r.text
    bilan = r.json()
    assert bilan["etat"] == "brouillon"
    assert bilan["instantane"] is None
    assert (
        await api.post(
            X_CONTRIBUTEUR,
            f"/api/v1/bilans/{bilan['id']}/adoption",
            json={"date_adoption": "2026-04-02"},
            headers={"if-match": r.headers["etag"]},
        )
    ).status_code == 403
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    adopted = r.json()
    snap = adopted["instantane"]
    assert snap["actions"][0]["statut"] == "en cours"
    assert snap["indicateurs"][0]["valeurs"] == {"2025": "40.00"}
    # Later changes do not touch the adopted bilan.
    etag = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{action['id']}")).headers["etag"]
    await api.patch(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}",
        json={"statut": "réalisée"},
        headers={"if-match": etag},
    )
    valeur = f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2025"
    r = await api.put(
        CAF_A_AGENT,
        valeur,
        json={"valeur": 55},
        headers={"if-match": (await api.get(CAF_A_AGENT, valeur)).headers["etag"]},
    )
    assert r.status_code == 200, r.text
    again = (await api.get(X_LECTEUR, f"/api/v1/bilans/{bilan['id']}")).json()
    assert again["instantane"] == snap
    r = await api.patch(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}",
        json={"sections": {"avancees": "Réécrit"}},
        headers={"if-match": f'"{bilan["id"]}.{again["version"]}"'},
    )
    assert r.status_code == 409
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}/adoption",
        json={"date_adoption": "2026-05-02"},
        headers={"if-match": f'"{bilan["id"]}.{again["version"]}"'},
    )
    assert r.status_code == 409


async def test_cdsf_transmission_needs_every_agreement(api: Api) -> None:
    await _plan(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "point d'étape annuel",
            "periode_debut": "2025-01-01",
            "periode_fin": "2025-12-31",
            "sections": sections_completes("point d'étape annuel"),
        },
    )
    bilan = r.json()
    assert set(bilan["collectivites_concernees"]) == {str(COLLECTIVITE_X), str(COLLECTIVITE_Z)}
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}/adoption",
        json={"date_adoption": "2026-02-01"},
        headers={"if-match": r.headers["etag"]},
    )
    path = f"/api/v1/bilans/{bilan['id']}"

    async def transmit() -> Any:
        etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
        return await api.post(CAF_A_AGENT, f"{path}/transmission-cdsf", headers={"if-match": etag})

    r = await transmit()
    assert r.status_code == 409
    assert set(r.json()["manquants"]) == {str(COLLECTIVITE_X), str(COLLECTIVITE_Z)}
    assert (await api.post(X_LECTEUR, f"{path}/accords-cdsf", json={})).status_code == 403
    r = await api.post(X_REFERENT, f"{path}/accords-cdsf", json={})
    assert r.status_code == 200
    assert [a["collectivite_id"] for a in r.json()["accords"]] == [str(COLLECTIVITE_X)]
    assert r.json()["accords"][0]["par"] == X_REFERENT.subject
    assert r.json()["accords"][0]["par_nom"] == "X Referent"
    assert r.json()["accords"][0]["collectivite_nom"] == "Collectivité X (test)"
    r = await transmit()
    assert r.json()["manquants"] == [str(COLLECTIVITE_Z)]
    assert (await api.post(Z_REFERENT, f"{path}/accords-cdsf", json={})).status_code == 200
    r = await transmit()
    assert r.status_code == 200
    assert r.json()["petite_enfance_transmissible"] is True


async def test_retried_bilan_posts_replay_their_first_answer(api: Api) -> None:
    _, action, _ = await _plan(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan final",
            "periode_debut": "2025-01-01",
            "periode_fin": "2029-12-31",
            "sections": sections_completes("bilan final"),
        },
    )
    path = f"/api/v1/bilans/{r.json()['id']}"
    read = {"if-match": r.headers["etag"]}
    adopt = {"idempotency-key": "adoption-1", **read}
    first = await api.post(
        CAF_A_AGENT, f"{path}/adoption", json={"date_adoption": "2026-04-02"}, headers=adopt
    )
    assert first.status_code == 200, first.text
    # The answer was lost; the action changes before the app retries with its old ETag.
    etag = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{action['id']}")).headers["etag"]
    await api.patch(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}",
        json={"statut": "réalisée"},
        headers={"if-match": etag},
    )
    again = await api.post(
        CAF_A_AGENT, f"{path}/adoption", json={"date_adoption": "2026-04-02"}, headers=adopt
    )
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.json() == first.json()
    assert again.json()["instantane"]["actions"][0]["statut"] == "en cours"
    assert (await api.get(X_LECTEUR, path)).headers["etag"] == first.headers["etag"]
    other = await api.post(
        CAF_A_AGENT, f"{path}/adoption", json={"date_adoption": "2026-05-02"}, headers=adopt
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency-key-reused"

    # Agreements: a retry records nothing twice; the key is not for another body.
    accord = {"idempotency-key": "accord-x"}
    first = await api.post(X_REFERENT, f"{path}/accords-cdsf", json={}, headers=accord)
    assert first.status_code == 200, first.text
    again = await api.post(X_REFERENT, f"{path}/accords-cdsf", json={}, headers=accord)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await api.post(
        X_REFERENT,
        f"{path}/accords-cdsf",
        json={"collectivite_id": str(COLLECTIVITE_X)},
        headers=accord,
    )
    assert other.status_code == 409
    await api.post(Z_REFERENT, f"{path}/accords-cdsf", json={})
    bilan = (await api.get(X_LECTEUR, path)).json()
    assert sorted(a["collectivite_id"] for a in bilan["accords"]) == sorted(
        [str(COLLECTIVITE_X), str(COLLECTIVITE_Z)]
    )

    # The transmission: a retry with the ETag read before gets the first answer, not 412.
    send = {
        "idempotency-key": "cdsf-1",
        "if-match": (await api.get(X_LECTEUR, path)).headers["etag"],
    }
    first = await api.post(CAF_A_AGENT, f"{path}/transmission-cdsf", headers=send)
    assert first.status_code == 200, first.text
    again = await api.post(CAF_A_AGENT, f"{path}/transmission-cdsf", headers=send)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["petite_enfance_transmissible"] is True


async def test_a_draft_bilan_can_be_deleted_an_adopted_one_cannot(api: Api) -> None:
    listing = f"/api/v1/conventions/{CONV_A}/bilans"
    body = {
        "type": "point d'étape annuel",
        "periode_debut": "2025-01-01",
        "periode_fin": "2025-12-31",
        "sections": sections_completes("point d'étape annuel"),
    }
    draft = await api.post(CAF_A_AGENT, listing, json=body)
    kept = await api.post(CAF_A_AGENT, listing, json=body)
    token = (await api.get(X_LECTEUR, listing)).json()["sync_token"]
    path = f"/api/v1/bilans/{draft.json()['id']}"
    etag = {"if-match": draft.headers["etag"]}
    # A collectivité reads it but may not delete it; another Caf does not see it.
    assert (await api.delete(X_CONTRIBUTEUR, path, headers=etag)).status_code == 403
    assert (await api.delete(CAF_B_AGENT, path, headers=etag)).status_code == 404
    assert (await api.delete(CAF_A_AGENT, path)).status_code == 428
    # A collectivité recorded its agreement since it was read: stale.
    assert (await api.post(X_REFERENT, f"{path}/accords-cdsf", json={})).status_code == 200
    assert (await api.delete(CAF_A_AGENT, path, headers=etag)).status_code == 412
    fresh = (await api.get(CAF_A_AGENT, path)).headers["etag"]
    r = await api.delete(CAF_A_AGENT, path, headers={"if-match": fresh})
    assert r.status_code == 204  # its agreements go with it
    assert (await api.get(X_LECTEUR, path)).status_code == 404
    # Delta sync tells offline clients it is gone.
    delta = (await api.get(X_LECTEUR, listing, params={"updated_since": token})).json()
    assert delta["items"] == []
    assert delta["deleted"] == [{"id": draft.json()["id"], "kind": "bilan"}]
    # Once adopted by the COPIL, it stays.
    path = f"/api/v1/bilans/{kept.json()['id']}"
    adopted = await api.post(
        CAF_A_AGENT,
        f"{path}/adoption",
        json={"date_adoption": "2026-02-01"},
        headers={"if-match": kept.headers["etag"]},
    )
    r = await api.delete(CAF_A_AGENT, path, headers={"if-match": adopted.headers["etag"]})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "Un bilan adopté est figé : il ne peut plus être supprimé."
    assert r.json()["code"] == "bilan-adopte"
    assert (await api.get(X_LECTEUR, path)).json()["etat"] == "adopté"


async def test_cdsf_agreement_and_transmission_refusals(api: Api) -> None:
    """Only the collectivités concerned agree (carriers of the petite-enfance actions);
    only an adopted bilan is transmitted."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    await api.action(CAF_A_AGENT, CONV_A, axe["id"], thematique="Petite enfance")
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={"type": "bilan final", "periode_debut": "2025-01-01", "periode_fin": "2029-12-31"},
    )
    bilan = r.json()
    assert bilan["collectivites_concernees"] == [str(COLLECTIVITE_X)]
    path = f"/api/v1/bilans/{bilan['id']}"
    r = await api.post(
        CAF_A_AGENT, f"{path}/transmission-cdsf", headers={"if-match": r.headers["etag"]}
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    # Z signs the convention but carries no petite-enfance action.
    r = await api.post(
        Z_REFERENT, f"{path}/accords-cdsf", json={"collectivite_id": str(COLLECTIVITE_Z)}
    )
    assert r.status_code == 409
    r = await api.post(Z_REFERENT, f"{path}/accords-cdsf", json={})
    assert r.status_code == 403
    # Nobody records an agreement for another collectivité.
    r = await api.post(
        X_REFERENT, f"{path}/accords-cdsf", json={"collectivite_id": str(COLLECTIVITE_Z)}
    )
    assert r.status_code == 403
    assert (await api.get(X_LECTEUR, path)).json()["accords"] == []


async def _count_bilans(db_engine: AsyncEngine) -> int:
    async with db_engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Bilan))).scalar_one())


async def test_signatory_collectivites_draft_and_edit_bilans(
    api: Api, db_engine: AsyncEngine
) -> None:
    """Art. 9 (003): "Sous la responsabilité du COPIL CTG et avec l'aide de la Caf si
    nécessaire, les chargés de coopération ou les personnes désignées pour suivre la CTG
    au sein de la collectivité, conduisent l'évaluation": a signatory collectivité's
    contributeurs and referents draft and edit bilans, like Caf agents; its readers
    do not; another Caf's agents and non-signatories do not see them."""
    listing = f"/api/v1/conventions/{CONV_A}/bilans"
    body = {
        "type": "point d'étape annuel",
        "periode_debut": "2025-01-01",
        "periode_fin": "2025-12-31",
    }
    r = await api.post(X_LECTEUR, listing, json=body)
    assert r.status_code == 403
    assert "collectivités signataires" in r.json()["detail"]
    for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
        assert (await api.post(outsider, listing, json=body)).status_code == 404
    assert await _count_bilans(db_engine) == 0
    r = await api.post(
        X_CONTRIBUTEUR,
        listing,
        json={**body, "sections": {"etat_avancement": "Le RPE a ouvert en mars."}},
    )
    assert r.status_code == 201, r.text
    path = f"/api/v1/bilans/{r.json()['id']}"
    # Z co-signs the convention: its referent completes the draft.
    r = await api.patch(
        Z_REFERENT,
        path,
        json={"sections": {"ajustements_mineurs": "Décaler l'ouverture du LAEP."}},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["sections"] == {
        "etat_avancement": "Le RPE a ouvert en mars.",
        "ajustements_mineurs": "Décaler l'ouverture du LAEP.",
    }
    r = await api.patch(
        X_LECTEUR,
        path,
        json={"sections": {"ajustements_mineurs": "Non"}},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 403
    # Deleting a draft stays the Caf's (unchanged by art. 9).
    assert (await api.delete(X_REFERENT, path, headers={"if-match": "*"})).status_code == 403


async def test_adoption_records_the_copil_date_entered_by_a_caf_agent_or_a_referent(
    api: Api,
) -> None:
    """Art. 9 (003): the evaluation is led "Sous la responsabilité du COPIL CTG", a
    committee "composé, à parité, de représentants de la Caf et de la commune" (art. 6):
    a Caf agent or a signatory's referent enters the adoption, dated by the COPIL (a
    meeting already held, not before the period the bilan covers); a contributeur may
    not."""
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-12-31",
            "sections": sections_completes("bilan intermédiaire"),
        },
    )
    path = f"/api/v1/bilans/{r.json()['id']}"
    etag = {"if-match": r.headers["etag"]}
    adoption = f"{path}/adoption"
    r = await api.post(X_CONTRIBUTEUR, adoption, json={"date_adoption": "2026-04-02"}, headers=etag)
    assert r.status_code == 403
    assert "référent" in r.json()["detail"]
    for date, why in (("2026-04-11", "futur"), ("2024-12-15", "avant le début")):
        r = await api.post(X_REFERENT, adoption, json={"date_adoption": date}, headers=etag)
        assert r.status_code == 422, r.text
        assert why in r.json()["detail"]
        assert r.json()["errors"][0]["field"] == "date_adoption"
    assert (await api.get(X_LECTEUR, path)).json()["etat"] == "brouillon"
    r = await api.post(X_REFERENT, adoption, json={"date_adoption": "2026-04-10"}, headers=etag)
    assert r.status_code == 200, r.text
    adopted = r.json()
    assert adopted["etat"] == "adopté"
    assert adopted["date_adoption"] == "2026-04-10"
    assert adopted["adoption_saisie_par"] == X_REFERENT.subject
    assert adopted["adoption_saisie_par_nom"] == "X Referent"
    assert adopted["adoption_saisie_le"] is not None
    assert adopted["instantane"]["date"] == "2026-04-10"


async def test_each_kind_of_bilan_has_the_sections_art9_names(
    api: Api, db_engine: AsyncEngine
) -> None:
    """Art. 9 (003): "Des points d'étape annuels pour présenter l'état d'avancement du
    plan d'action et procéder à des ajustements mineurs"; at mid-term "examiner les
    avancées et les difficultés, et de décider d'éventuels ajustements … qui pourraient
    nécessiter un avenant"; at the end "analyser les résultats obtenus, évaluer le
    fonctionnement de la démarche CTG et préparer le renouvellement". A section of
    another kind is a 422 and writes nothing."""
    listing = f"/api/v1/conventions/{CONV_A}/bilans"
    periode = {"periode_debut": "2025-01-01", "periode_fin": "2025-12-31"}
    r = await api.post(
        CAF_A_AGENT,
        listing,
        json={"type": "point d'étape annuel", **periode, "sections": {"avancees": "x"}},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == (
        "« avancees » est une section du bilan intermédiaire ; un point d'étape annuel a les "
        "sections « etat_avancement », « ajustements_mineurs »."
    )
    assert [e["field"] for e in r.json()["errors"]] == ["sections.avancees"]
    assert await _count_bilans(db_engine) == 0

    final = {
        "resultats": "Couverture EAJE passée de 41 à 48 %.",
        "fonctionnement_demarche": "COPIL tenus deux fois par an.",
        "plus_value": "Un seul interlocuteur pour les familles.",
        "preparation_renouvellement": "Renforcer l'axe jeunesse.",
    }
    r = await api.post(
        CAF_A_AGENT, listing, json={"type": "bilan final", **periode, "sections": final}
    )
    assert r.status_code == 201, r.text
    assert r.json()["sections"] == final
    r = await api.post(
        CAF_A_AGENT,
        listing,
        json={"type": "bilan intermédiaire", **periode, "sections": {"avancees": "Deux MAM."}},
    )
    assert r.status_code == 201, r.text
    intermediaire = r.json()
    assert intermediaire["sections"] == {
        "avancees": "Deux MAM.",
        "difficultes": None,
        "ajustements": None,
        "avenant_necessaire": None,
    }
    path = f"/api/v1/bilans/{intermediaire['id']}"
    r = await api.patch(
        CAF_A_AGENT,
        path,
        json={"sections": {"plus_value": "x", "avenant_necessaire": True}},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["sections.plus_value"]
    r = await api.patch(
        CAF_A_AGENT,
        path,
        json={"sections": {"difficultes": "Locaux introuvables.", "avenant_necessaire": True}},
        headers={"if-match": f'"{intermediaire["id"]}.{intermediaire["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["sections"] == {
        "avancees": "Deux MAM.",
        "difficultes": "Locaux introuvables.",
        "ajustements": None,
        "avenant_necessaire": True,
    }


async def test_a_bilan_is_adopted_with_every_section_of_its_kind(api: Api) -> None:
    """Art. 9 (003) names what each bilan covers; the final one "analyser les résultats
    obtenus, évaluer le fonctionnement de la démarche CTG et préparer le renouvellement".
    The COPIL's adoption of a bilan with sections of its kind empty (absent, null or
    blank) is a 409 naming them in French; nothing changes. A "no" is an answer."""
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan final",
            "periode_debut": "2025-01-01",
            "periode_fin": "2029-12-31",
            "sections": {"resultats": "Couverture EAJE de 41 à 48 %.", "plus_value": "  "},
        },
    )
    path = f"/api/v1/bilans/{r.json()['id']}"
    refused = await api.post(
        X_REFERENT,
        f"{path}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": r.headers["etag"]},
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "sections-manquantes"
    assert problem["detail"] == (
        "Le bilan final ne peut pas être adopté : des sections sont vides : « Fonctionnement "
        "de la démarche CTG », « Plus-value de la démarche », « Préparation du "
        "renouvellement ». Complétez-les avant de saisir l'adoption."
    )
    assert [m["section"] for m in problem["manquants"]] == [
        "fonctionnement_demarche",
        "plus_value",
        "preparation_renouvellement",
    ]
    assert problem["manquants"][1]["message"] == "Section « Plus-value de la démarche » vide."
    assert (await api.get(X_LECTEUR, path)).json()["etat"] == "brouillon"
    r = await api.patch(
        X_CONTRIBUTEUR,
        path,
        json={"sections": sections_completes("bilan final")},
        headers={"if-match": r.headers["etag"]},
    )
    r = await api.post(
        X_REFERENT,
        f"{path}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text

    # Mid-term: "no avenant needed" is written, the adjustments are not.
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-12-31",
            "sections": {
                "avancees": "Deux MAM.",
                "difficultes": "Locaux.",
                "avenant_necessaire": False,
            },
        },
    )
    refused = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{r.json()['id']}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": r.headers["etag"]},
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(
        "Le bilan intermédiaire ne peut pas être adopté : une section est vide : "
        "« Ajustements décidés »."
    )


async def test_expected_bilans_and_their_lateness(api: Api) -> None:
    """Art. 9 (003): "Des points d'étape annuels", a bilan intermédiaire "à mi-parcours",
    a bilan final "en fin de période": each is due at a date computed from the
    convention's years, and is late (computed on read, like actions) once that date has
    passed without an adopted bilan, drafted or not. Convention A runs 2025-2029; today
    is 2026-04-10."""
    attendus = f"/api/v1/conventions/{CONV_A}/bilans/attendus"
    r = await api.get(X_LECTEUR, attendus)
    assert r.status_code == 200, r.text
    expected = [
        ("point d'étape annuel", 2025, "2025-12-31", True),
        ("point d'étape annuel", 2026, "2026-12-31", False),
        ("bilan intermédiaire", None, "2027-07-02", False),
        ("point d'étape annuel", 2028, "2028-12-31", False),
        ("bilan final", None, "2029-12-31", False),
    ]
    items = r.json()["items"]
    assert [(i["type"], i["annee"], i["date_attendue"], i["en_retard"]) for i in items] == expected
    assert {i["bilan_id"] for i in items} == {None}
    for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
        assert (await api.get(outsider, attendus)).status_code == 404

    # The 2025 point d'étape, drafted late: still late until the COPIL adopts it.
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "point d'étape annuel",
            "periode_debut": "2025-01-01",
            "periode_fin": "2025-12-31",
            "sections": sections_completes("point d'étape annuel"),
        },
    )
    bilan = r.json()
    assert (bilan["date_attendue"], bilan["en_retard"]) == ("2025-12-31", True)
    first = (await api.get(X_LECTEUR, attendus)).json()["items"][0]
    assert (first["bilan_id"], first["etat"], first["en_retard"]) == (
        bilan["id"],
        "brouillon",
        True,
    )
    listed = (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/bilans")).json()["items"]
    assert [(b["date_attendue"], b["en_retard"]) for b in listed] == [("2025-12-31", True)]
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}/adoption",
        json={"date_adoption": "2026-01-20"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.json()["en_retard"] is False
    first = (await api.get(X_LECTEUR, attendus)).json()["items"][0]
    assert (first["etat"], first["en_retard"]) == ("adopté", False)
    listed = (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/bilans")).json()["items"]
    assert listed[0]["en_retard"] is False

    # A résiliation stops the engagements (art. 12): nothing is due from its effect on
    # (2026-03-01: neither the intermédiaire of mid-2026 nor the final).
    r = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_RESILIEE}/bilans/attendus")
    assert [(i["annee"], i["date_attendue"]) for i in r.json()["items"]] == [
        (2024, "2024-12-31"),
        (2025, "2025-12-31"),
    ]


async def test_a_ctg_recorded_after_the_fact_is_not_late_for_what_fell_due_before(
    api: Api, db_engine: AsyncEngine
) -> None:
    """000 (fiche 5): "D'intégrer les CTG signées": a CTG signed in 2022, before the
    product, recorded on 2025-06-01 (`suivie_depuis`, from the conventions' feed). Its
    points d'étape of 2022 and 2023 and its bilan intermédiaire were owed outside the
    product: not late (they all were). The 2025 point d'étape fell due once the product
    followed it: late, as any other. Today is 2026-04-10."""
    old = ref(
        CONV_EXISTANTE, CAF_A, (COLLECTIVITE_X,), dt.date(2022, 1, 1), dt.date(2026, 12, 31)
    ).model_copy(update={"suivie_depuis": dt.date(2025, 6, 1)})
    async with AsyncSession(db_engine) as session:
        await upsert_refs(session, convention_ref, [old])
        await session.commit()
    attendus = f"/api/v1/conventions/{CONV_EXISTANTE}/bilans/attendus"
    r = await api.get(X_LECTEUR, attendus)
    assert r.status_code == 200, r.text
    assert [(i["annee"], i["date_attendue"], i["en_retard"]) for i in r.json()["items"]] == [
        (2022, "2022-12-31", False),
        (2023, "2023-12-31", False),
        (None, "2024-07-01", False),
        (2025, "2025-12-31", True),
        (None, "2026-12-31", False),
    ]
    # A bilan written now for 2023 (its answer, the list: the same rule).
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_EXISTANTE}/bilans",
        json={
            "type": "point d'étape annuel",
            "periode_debut": "2023-01-01",
            "periode_fin": "2023-12-31",
            "sections": sections_completes("point d'étape annuel"),
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["date_attendue"], r.json()["en_retard"]) == ("2023-12-31", False)
    listed = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_EXISTANTE}/bilans")
    assert [(b["date_attendue"], b["en_retard"]) for b in listed.json()["items"]] == [
        ("2023-12-31", False)
    ]


async def test_a_suivi_under_correction_shows_its_last_validated_revision(api: Api) -> None:
    """A validated suivi being corrected is a brouillon again, but its validated revision
    still stands: the snapshot of a bilan adopted meanwhile showed no suivi at all."""
    _, action, _ = await _plan(api)
    base = f"/api/v1/actions/{action['id']}/suivis"
    path = f"{base}/2026-T1"
    r = await api.post(
        X_CONTRIBUTEUR,
        base,
        json={"periode": "2026-T1", "statut_action": "en cours", "avancement": 40},
    )
    r = await api.post(
        X_CONTRIBUTEUR, f"{path}/soumission", headers={"if-match": r.headers["etag"]}
    )
    r = await api.post(
        CAF_A_AGENT, f"{path}/validation", json={}, headers={"if-match": r.headers["etag"]}
    )
    assert r.json()["etat"] == "validé", r.text
    r = await api.post(
        X_CONTRIBUTEUR,
        f"{path}/correction",
        json={"avancement": 70, "motif": "Nouvelle estimation"},
        headers={"if-match": r.headers["etag"]},
    )
    assert (r.json()["etat"], r.json()["revision"]) == ("brouillon", 2), r.text
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "point d'étape annuel",
            "periode_debut": "2026-01-01",
            "periode_fin": "2026-12-31",
            "sections": sections_completes("point d'étape annuel"),
        },
    )
    assert r.status_code == 201, r.text
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{r.json()['id']}/adoption",
        json={"date_adoption": "2026-04-10"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    (snapshot,) = r.json()["instantane"]["actions"]
    assert snapshot["dernier_suivi_valide"] == {
        "periode": "2026-T1",
        "revision": 1,
        "avancement": 40,
    }


async def test_older_clients_still_send_and_read_syntheses(
    api: Api, client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """/api/v1 changes are additive: `syntheses` per axe, removed from the bilans by
    art. 9's sections (a 422 since), is accepted again as a deprecated input. It forms the
    kind's first section as migration 0004 made it (one paragraph per axe in the plan's
    order, headed by its title), and is read back as sent while that section comes
    from it."""
    accueillir = await api.axe(CAF_A_AGENT, CONV_A, "Accueillir")
    soutenir = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir")
    listing = f"/api/v1/conventions/{CONV_A}/bilans"
    body = {"type": "point d'étape annuel", "periode_debut": "2025-01-01"}
    body["periode_fin"] = "2025-12-31"
    sent = {soutenir["id"]: "Deux LAEP.", accueillir["id"]: "Une MAM."}
    r = await api.post(X_CONTRIBUTEUR, listing, json={**body, "syntheses": sent})
    assert r.status_code == 201, r.text
    assert r.json()["syntheses"] == sent
    assert r.json()["sections"]["etat_avancement"] == (
        "Accueillir : Une MAM.\n\nSoutenir : Deux LAEP."
    )
    path = f"/api/v1/bilans/{r.json()['id']}"
    # PATCH replaces the axes sent, keeps the others (as before).
    r = await api.patch(
        X_CONTRIBUTEUR,
        path,
        json={"syntheses": {accueillir["id"]: "Deux MAM."}},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    again = (await api.get(X_LECTEUR, path)).json()
    assert again["syntheses"] == {**sent, accueillir["id"]: "Deux MAM."}
    assert again["sections"]["etat_avancement"] == (
        "Accueillir : Deux MAM.\n\nSoutenir : Deux LAEP."
    )
    # Refused as before: an axe of another convention, or both ways at once; no write.
    count = await _count_bilans(db_engine)
    stranger = await api.axe(CAF_B_AGENT, CONV_B, "Ailleurs")
    for wrong, field in (
        ({"syntheses": {stranger["id"]: "x"}}, f"syntheses.{stranger['id']}"),
        ({"syntheses": sent, "sections": {"etat_avancement": "x"}}, "syntheses"),
    ):
        r = await api.post(CAF_A_AGENT, listing, json={**body, **wrong})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await _count_bilans(db_engine) == count
    # Written as a section, the text no longer comes from the syntheses.
    r = await api.patch(
        CAF_A_AGENT,
        path,
        json={"sections": {"etat_avancement": "Réécrit par la Caf."}},
        headers={"if-match": (await api.get(X_LECTEUR, path)).headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["syntheses"], r.json()["sections"]["etat_avancement"]) == (
        {},
        "Réécrit par la Caf.",
    )
    # Each answer giving or taking them says so (RFC 9745, since 4 December 2026), with no
    # withdrawal date (Sunset): a field of /api/v1 stays.
    assert r.headers["deprecation"] == "@1796342400"
    assert "sunset" not in r.headers
    # Marked deprecated in the OpenAPI document, read and write.
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("BilanIn", "BilanPatch", "BilanDetail"):
        assert schemas[name]["properties"]["syntheses"]["deprecated"] is True, name
