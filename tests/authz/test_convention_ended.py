"""Conventions through the gateway: what one still accepts once its résiliation takes
effect, and conditional reads (304).

Art. 12 (003): "La résiliation de la présente convention entraînera l'arrêt immédiat
des engagements des parties": collectivités no longer write or edit suivis, actions,
indicator values or documents (409, as for new ones); the Caf still validates or sends
back the suivis submitted before, and the bilans (the final one above all) go on, with
their documents and the Caf's. Before, a suivi still in brouillon could be edited, no
bilan could be drafted and no document uploaded."""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz.world import PDF, PERIODE, World
from tests.support.conventions import sections_completes


async def _caught_up(world: World) -> None:
    """The replicas as `coop worker`'s next sync leaves them (the tests run no worker)."""
    await world.apps["actions"].state.actions.replica.sync_once()
    await world.apps["documents"].state.documents.replica.sync_once()


def _closed(resp: httpx.Response) -> None:
    assert resp.status_code == 409, resp.text
    body: dict[str, Any] = resp.json()
    assert (body["code"], body["etat_convention"]) == ("convention-close", "résiliée")


async def test_after_the_resiliation_collectivites_stop_and_the_caf_finishes(
    world: World,
) -> None:
    side = world.sides["A"]
    convention = await world.new_convention(side)
    axe = await world.new_axe(side, convention)

    async def action_with_suivi(state: str) -> str:
        created = await world.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{convention}/actions",
            json={"axe_id": axe, "titre": "Créer un LAEP", "porteur_ids": [str(side.coll)]},
        )
        action = str(created.json()["id"])
        base = f"/api/v1/actions/{action}/suivis"
        await world.direct(
            "actions",
            side.contributeur,
            "POST",
            base,
            json={"periode": PERIODE, "statut_action": "en cours", "avancement": 30},
        )
        if state == "soumis":
            path = f"{base}/{PERIODE}"
            etag = await world.etag("actions", path)
            await world.direct(
                "actions", side.contributeur, "POST", f"{path}/soumission", if_match=etag
            )
        return action

    brouillon, a_valider, a_renvoyer = (
        await action_with_suivi("brouillon"),
        await action_with_suivi("soumis"),
        await action_with_suivi("soumis"),
    )
    indicateur = (
        await world.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/actions/{brouillon}/indicateurs",
            json={"libelle": "Familles", "nature": "réalisation", "unite": "familles"},
        )
    ).json()["id"]
    document = (
        await world.direct(
            "documents",
            side.contributeur,
            "POST",
            "/api/v1/documents",
            data={"convention_id": str(convention), "type": "Autre", "titre": "CR"},
            files={"fichier": ("cr.pdf", PDF, "application/pdf")},
        )
    ).json()["id"]

    # The Caf résilie without mise en demeure: effective today.
    await world.direct(
        "conventions",
        side.agent,
        "POST",
        f"/api/v1/conventions/{convention}/resiliation",
        json={"mode": "sans mise en demeure", "motif": "Modification sans avenant"},
    )
    await _caught_up(world)

    async def call(who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**world.headers(who), **kw.pop("headers", {})}
        return await world.gateway.request(method, path, headers=headers, **kw)

    async def etag(service: str, path: str) -> dict[str, str]:
        return {"if-match": await world.etag(service, path)}

    suivi = f"/api/v1/actions/{brouillon}/suivis/{PERIODE}"
    action = f"/api/v1/actions/{brouillon}"
    valeur = f"{action}/indicateurs/{indicateur}/valeurs/2026"
    doc = f"/api/v1/documents/{document}"
    # The collectivité: no more reporting, no more changes.
    _closed(
        await call(
            "x_contributeur",
            "PATCH",
            suivi,
            json={"avancement": 50},
            headers=await etag("actions", suivi),
        )
    )
    _closed(
        await call(
            "x_contributeur", "POST", f"{suivi}/soumission", headers=await etag("actions", suivi)
        )
    )
    _closed(
        await call(
            "x_contributeur",
            "PATCH",
            action,
            json={"statut": "réalisée"},
            headers=await etag("actions", action),
        )
    )
    _closed(await call("x_contributeur", "PUT", valeur, json={"valeur": 3}))
    _closed(
        await call(
            "x_contributeur",
            "PATCH",
            doc,
            json={"titre": "CR modifié"},
            headers=await etag("documents", doc),
        )
    )
    _closed(await call("x_contributeur", "DELETE", doc))

    # Documents still come in: the Caf's papers, and the bilans of those who conduct the
    # evaluation (003 art. 9); nothing else from the collectivité.
    def form(type_document: str) -> dict[str, Any]:
        return {
            "data": {"convention_id": str(convention), "type": type_document, "titre": "Doc"},
            "files": {"fichier": ("doc.pdf", PDF, "application/pdf")},
        }

    _closed(await call("x_contributeur", "POST", "/api/v1/documents", **form("Autre")))
    for who, type_document in (
        ("caf_a_agent", "Compte rendu de COPIL"),
        ("x_contributeur", "Bilan"),
    ):
        resp = await call(who, "POST", "/api/v1/documents", **form(type_document))
        assert resp.status_code == 201, resp.text
    # The Caf: validates or sends back what was submitted before, keeps the plan right.
    for action_id, step, body in (
        (a_valider, "validation", {}),
        (a_renvoyer, "renvoi", {"commentaire": "À préciser"}),
    ):
        path = f"/api/v1/actions/{action_id}/suivis/{PERIODE}"
        resp = await call(
            "caf_a_agent", "POST", f"{path}/{step}", json=body, headers=await etag("actions", path)
        )
        assert resp.status_code == 200, resp.text
    resp = await call(
        "caf_a_agent",
        "PATCH",
        action,
        json={"statut": "réalisée"},
        headers=await etag("actions", action),
    )
    assert resp.status_code == 200, resp.text
    # The bilan final is drafted by the collectivité (art. 9), adopted by the Caf.
    resp = await call(
        "x_contributeur",
        "POST",
        f"/api/v1/conventions/{convention}/bilans",
        json={
            "type": "bilan final",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-12-31",
            "sections": sections_completes("bilan final"),
        },
    )
    assert resp.status_code == 201, resp.text
    bilan = f"/api/v1/bilans/{resp.json()['id']}"
    resp = await call(
        "caf_a_agent",
        "POST",
        f"{bilan}/adoption",
        json={"date_adoption": "2026-11-01"},
        headers={"if-match": resp.headers["etag"]},
    )
    assert resp.status_code == 200, resp.text
    # Nothing new from anyone.
    _closed(
        await call(
            "caf_a_agent",
            "POST",
            f"/api/v1/conventions/{convention}/actions",
            json={"axe_id": axe, "titre": "Encore", "porteur_ids": [str(side.coll)]},
        )
    )


async def test_a_convention_not_modified_is_a_304_through_the_gateway(world: World) -> None:
    side = world.sides["A"]
    path = f"/api/v1/conventions/{side.convention}"
    tag = (await world.gateway.get(path, headers=world.headers("x_lecteur"))).headers["etag"]
    cached = await world.gateway.get(
        path, headers={**world.headers("x_lecteur"), "if-none-match": tag}
    )
    assert (cached.status_code, cached.headers["etag"], cached.content) == (304, tag, b"")
    # Who may not read it learns nothing from a conditional GET either.
    hidden = await world.gateway.get(
        path, headers={**world.headers("y_contributeur"), "if-none-match": tag}
    )
    assert hidden.status_code == 404
