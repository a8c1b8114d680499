"""Bilans: syntheses per axe, frozen snapshot at adoption, CDSF agreements."""

from __future__ import annotations

from typing import Any

from kernel.principal import OrganisationKind, Role
from tests.actions.conftest import COLLECTIVITE_Z, CONV_A, Api
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_REFERENT,
    person,
)

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
    axe, action, ind = await _plan(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-12-31",
            "syntheses": {axe["id"]: "Deux micro-crèches ouvertes."},
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
        json={"syntheses": {axe["id"]: "Réécrit"}},
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
        json={"type": "bilan final", "periode_debut": "2025-01-01", "periode_fin": "2029-12-31"},
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
