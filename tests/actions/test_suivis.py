"""The quarterly suivi and its workflow: every transition and every refusal."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import Suivi
from tests.actions.conftest import COLLECTIVITE_Z, CONV_A, CONV_RESILIEE, Api
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    X_CONTRIBUTEUR,
    X_LECTEUR,
)

SUIVI = {
    "periode": "2026-T1",
    "statut_action": "en cours",
    "avancement": 40,
    "realisations": "Recrutement de la coordinatrice",
    "difficultes": "Locaux en retard",
    "alerte": True,
    "alerte_message": "Le bailleur ne répond plus : arbitrage du COPIL nécessaire.",
}


async def _setup(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}/indicateurs",
        json={"libelle": "Familles accompagnées", "nature": "réalisation", "unite": "familles"},
    )
    return action, r.json()


def etag(r: Any) -> dict[str, str]:
    return {"if-match": r.headers["etag"]}


async def test_full_workflow_with_history(api: Api) -> None:
    action, ind = await _setup(api)
    base = f"/api/v1/actions/{action['id']}/suivis"
    body = {**SUIVI, "valeurs": [{"indicateur_id": ind["id"], "valeur": 12, "source": "CCAS"}]}
    r = await api.post(X_CONTRIBUTEUR, base, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["etat"] == "brouillon"
    assert r.headers["location"] == f"{base}/2026-T1"
    # brouillon → modifié → soumis
    r = await api.patch(X_CONTRIBUTEUR, f"{base}/2026-T1", json={"avancement": 45}, headers=etag(r))
    assert r.status_code == 200
    r = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=etag(r))
    assert r.json()["etat"] == "soumis"
    # soumis: no edit, no validation by the collectivité
    assert (
        await api.patch(X_CONTRIBUTEUR, f"{base}/2026-T1", json={"avancement": 50}, headers=etag(r))
    ).status_code == 409
    assert (
        await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/validation", json={}, headers=etag(r))
    ).status_code == 403
    # → à compléter (comment required) → completed → soumis again
    assert (
        await api.post(CAF_A_AGENT, f"{base}/2026-T1/renvoi", json={}, headers=etag(r))
    ).status_code == 422
    r = await api.post(
        CAF_A_AGENT,
        f"{base}/2026-T1/renvoi",
        json={"commentaire": "Précisez le nombre de familles."},
        headers=etag(r),
    )
    assert r.json()["etat"] == "à compléter"
    assert r.json()["commentaire_validation"] == "Précisez le nombre de familles."
    r = await api.patch(
        X_CONTRIBUTEUR,
        f"{base}/2026-T1",
        json={"valeurs": [{"indicateur_id": ind["id"], "valeur": 14, "source": "CCAS"}]},
        headers=etag(r),
    )
    assert r.status_code == 200
    r = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=etag(r))
    # → validé: the values become the indicator's values of the quarter
    r = await api.post(CAF_A_AGENT, f"{base}/2026-T1/validation", json={}, headers=etag(r))
    assert r.json()["etat"] == "validé"
    got = (
        await api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}")
    ).json()
    assert [(v["periode"], float(v["valeur"])) for v in got["valeurs"]] == [("2026-T1", 14.0)]
    # Issue 23: authors named beside their ids, as they were named when they acted.
    assert (got["valeurs"][0]["auteur"], got["valeurs"][0]["auteur_nom"]) == (
        X_CONTRIBUTEUR.subject,
        "X Contributeur",
    )
    detail = (await api.get(X_LECTEUR, f"{base}/2026-T1")).json()
    assert (detail["auteur"], detail["auteur_nom"]) == (X_CONTRIBUTEUR.subject, "X Contributeur")
    history = (await api.get(X_LECTEUR, f"{base}/2026-T1/historique")).json()
    assert [e["auteur_nom"] for e in history] == [
        *["X Contributeur"] * 3,
        "Caf A Agent",
        *["X Contributeur"] * 2,
        "Caf A Agent",
    ]
    assert [(e["evenement"], e["etat_apres"]) for e in history] == [
        ("création", "brouillon"),
        ("modification", "brouillon"),
        ("soumission", "soumis"),
        ("renvoi à compléter", "à compléter"),
        ("modification", "à compléter"),
        ("soumission", "soumis"),
        ("validation", "validé"),
    ]
    assert history[0]["contenu"]["avancement"] == 40
    assert history[1]["contenu"]["avancement"] == 45
    assert history[3]["commentaire"] == "Précisez le nombre de familles."


async def test_validated_suivi_is_immutable_and_corrected_by_a_new_revision(api: Api) -> None:
    action, _ = await _setup(api)
    base = f"/api/v1/actions/{action['id']}/suivis/2026-T1"
    r = await api.post(CAF_A_AGENT, f"/api/v1/actions/{action['id']}/suivis", json=SUIVI)
    r = await api.post(CAF_A_AGENT, f"{base}/soumission", headers=etag(r))
    r = await api.post(
        CAF_A_AGENT, f"{base}/validation", json={"commentaire": "OK"}, headers=etag(r)
    )
    validated = r
    r = await api.patch(CAF_A_AGENT, base, json={"avancement": 90}, headers=etag(validated))
    assert r.status_code == 409
    assert r.json()["code"] == "suivi-valide"
    for transition in ("soumission", "validation", "renvoi"):
        r = await api.post(
            CAF_A_AGENT, f"{base}/{transition}", json={"commentaire": "x"}, headers=etag(validated)
        )
        assert r.status_code == 409, transition
        assert (r.json()["code"], r.json()["etat"]) == ("transition-refusee", "validé")
    # A correction needs a reason, opens revision 2 and goes through the workflow again.
    r = await api.post(
        X_CONTRIBUTEUR, f"{base}/correction", json={"avancement": 60}, headers=etag(validated)
    )
    assert r.status_code == 422
    r = await api.post(
        X_CONTRIBUTEUR,
        f"{base}/correction",
        json={"avancement": 60, "motif": "Erreur de saisie de l'avancement"},
        headers=etag(validated),
    )
    assert r.status_code == 200
    assert (r.json()["revision"], r.json()["etat"], r.json()["avancement"]) == (2, "brouillon", 60)
    history = (await api.get(X_LECTEUR, f"{base}/historique")).json()
    assert [(e["revision"], e["evenement"]) for e in history][-2:] == [
        (1, "validation"),
        (2, "correction"),
    ]
    # What had been validated stays readable as it was.
    assert history[-2]["contenu"]["avancement"] == 40
    assert history[-1]["commentaire"] == "Erreur de saisie de l'avancement"


async def test_refusals(api: Api, db_engine: AsyncEngine) -> None:
    action, ind = await _setup(api)
    theirs = await api.action(
        CAF_A_AGENT, CONV_A, action["axe_id"], porteur_ids=[str(COLLECTIVITE_Z)]
    )
    base = f"/api/v1/actions/{action['id']}/suivis"
    # campaign of a quarter outside the convention (2025-01-01 → 2029-12-31)
    r = await api.post(X_CONTRIBUTEUR, base, json={**SUIVI, "periode": "2024-T4"})
    assert r.status_code == 409
    assert r.json()["code"] == "periode-hors-convention"
    r = await api.post(X_CONTRIBUTEUR, base, json={**SUIVI, "periode": "2026-T9"})
    assert r.status_code == 422
    # wrong porteur, wrong role, out of scope
    r = await api.post(X_CONTRIBUTEUR, f"/api/v1/actions/{theirs['id']}/suivis", json=SUIVI)
    assert r.status_code == 403
    assert (await api.post(X_LECTEUR, base, json=SUIVI)).status_code == 403
    assert (await api.post(CAF_A_LECTEUR, base, json=SUIVI)).status_code == 403
    assert (await api.post(CAF_B_AGENT, base, json=SUIVI)).status_code == 404
    # an alert without a message, a value of another action's indicator, a bad percentage
    bad = [
        {**SUIVI, "alerte_message": None},
        {**SUIVI, "avancement": 140},
        {**SUIVI, "valeurs": [{"indicateur_id": theirs["id"], "valeur": 1}]},
        {**SUIVI, "valeurs": [{"indicateur_id": ind["id"], "valeur": 2.5}]},
    ]
    for body in bad:
        r = await api.post(X_CONTRIBUTEUR, base, json=body)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Suivi))).scalar_one() == 0
    # one suivi per action and quarter
    assert (await api.post(X_CONTRIBUTEUR, base, json=SUIVI)).status_code == 201
    assert (await api.post(X_CONTRIBUTEUR, base, json=SUIVI)).status_code == 409
    # stale / missing If-Match on a transition
    r = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission")
    assert r.status_code == 428
    r = await api.post(
        X_CONTRIBUTEUR,
        f"{base}/2026-T1/soumission",
        headers={"if-match": '"00000000-0000-0000-0000-000000000000.1"'},
    )
    assert r.status_code == 412
    # validation of a brouillon: wrong state
    r = await api.get(X_LECTEUR, f"{base}/2026-T1")
    assert (
        await api.post(CAF_A_AGENT, f"{base}/2026-T1/validation", json={}, headers=etag(r))
    ).status_code == 409
    # a brouillon is changed directly, not corrected
    r = await api.post(
        X_CONTRIBUTEUR, f"{base}/2026-T1/correction", json={"motif": "Erreur"}, headers=etag(r)
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"


async def test_no_new_suivi_on_a_resiliee_convention(api: Api, db_engine: AsyncEngine) -> None:
    # Actions written before the résiliation: seeded straight into the tables.
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from services.actions.models import Action, Axe
    from tests.support.personas import COLLECTIVITE_X

    axe_id, action_id = uuid.uuid4(), uuid.uuid4()
    async with AsyncSession(db_engine) as session:
        session.add(
            Axe(id=axe_id, convention_id=CONV_RESILIEE, titre="Agir", position=1, version=1)
        )
        await session.flush()
        session.add(
            Action(
                id=action_id,
                convention_id=CONV_RESILIEE,
                axe_id=axe_id,
                position=1,
                titre="Créer un LAEP",
                statut="en cours",
                porteur_ids=[COLLECTIVITE_X],
                version=1,
            )
        )
        await session.commit()
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action_id}/suivis",
        json={**SUIVI, "periode": "2025-T4"},
    )
    assert r.status_code == 409
    assert r.json()["etat_convention"] == "résiliée"
    assert (await api.get(X_LECTEUR, f"/api/v1/actions/{action_id}")).status_code == 200


async def test_a_retried_submission_returns_the_first_result(api: Api) -> None:
    action, _ = await _setup(api)
    base = f"/api/v1/actions/{action['id']}/suivis"
    r = await api.post(X_CONTRIBUTEUR, base, json=SUIVI)
    headers = {**etag(r), "idempotency-key": "soumission-1"}
    first = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=headers)
    # The phone lost the answer and retries with the same (now stale) If-Match.
    again = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    history = (await api.get(X_LECTEUR, f"{base}/2026-T1/historique")).json()
    assert [e["evenement"] for e in history] == ["création", "soumission"]
    # Without the key, the stale If-Match is refused.
    r = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=etag(r))
    assert r.status_code == 412


async def test_validation_replaces_a_value_so_older_etags_are_stale(api: Api) -> None:
    action, ind = await _setup(api)
    valeur = f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2026-T1"
    r = await api.put(X_CONTRIBUTEUR, valeur, json={"valeur": 10})
    assert r.status_code == 201, r.text
    read_before = r.headers["etag"]
    base = f"/api/v1/actions/{action['id']}/suivis"
    body = {**SUIVI, "valeurs": [{"indicateur_id": ind["id"], "valeur": 14, "source": "CCAS"}]}
    r = await api.post(X_CONTRIBUTEUR, base, json=body)
    r = await api.post(X_CONTRIBUTEUR, f"{base}/2026-T1/soumission", headers=etag(r))
    r = await api.post(CAF_A_AGENT, f"{base}/2026-T1/validation", json={}, headers=etag(r))
    assert r.json()["etat"] == "validé"
    published = await api.get(X_LECTEUR, valeur)
    assert float(published.json()["valeur"]) == 14.0
    assert published.headers["etag"] != read_before
    # An offline copy from before the validation cannot overwrite the validated value.
    r = await api.put(
        X_CONTRIBUTEUR, valeur, json={"valeur": 11}, headers={"if-match": read_before}
    )
    assert r.status_code == 412
    assert float((await api.get(X_LECTEUR, valeur)).json()["valeur"]) == 14.0
