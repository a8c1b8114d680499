"""Axes and fiches-action: contents, ordering, moves, rights, ETags, idempotency."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import Action, Axe
from services.actions.rules import FICHE_LABELS
from services.actions.schemas import ActionSummary, SyncPage
from tests.actions.conftest import (
    COLLECTIVITE_Z,
    CONV_A,
    CONV_B,
    CONV_ECHUE,
    CONV_RESILIEE,
    Api,
)
from tests.support.contract import assert_reads_back
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    Y_CONTRIBUTEUR,
)

FICHE = {
    "diagnostic_initial": "Peu de places d'accueil pour les moins de 3 ans.",
    "public_cible": "Familles avec jeunes enfants",
    "objectifs_operationnels": "Ouvrir 20 places",
    "modalites_mise_en_oeuvre": "Appel à projets",
    "echeances_realisation": "2027",
    "services_mobilises": "Service petite enfance (responsable : Mme A.)",
    "resultats_attendus": "20 places ouvertes",
    "partenaires_sollicites": "PMI",
    "indicateurs_evaluation": "Nombre de places",
    "specificites_ao": "Voiron : planification",
}


async def count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_axe_title_without_verb_is_kept_with_a_warning(api: Api) -> None:
    verb = await api.axe(CAF_A_AGENT, CONV_A, "Favoriser l'accès aux droits")
    noun = await api.axe(CAF_A_AGENT, CONV_A, "Petite enfance")
    assert verb["avertissements"] == []
    assert len(noun["avertissements"]) == 1
    assert "verbe" in noun["avertissements"][0]
    listed = (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/axes")).json()["items"]
    assert [a["titre"] for a in listed] == ["Favoriser l'accès aux droits", "Petite enfance"]
    assert [a["position"] for a in listed] == [1, 2]


async def test_fiche_action_keeps_every_field_with_exact_labels(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    created = await api.action(
        CAF_A_AGENT,
        CONV_A,
        axe["id"],
        thematique="petite enfance",
        priorite="haute",
        date_debut="2025-03-01",
        date_echeance="2027-06-30",
        referent="Mme Durand",
        porteur_ids=[str(COLLECTIVITE_X), str(COLLECTIVITE_Z)],
        **FICHE,
    )
    r = await api.get(X_LECTEUR, f"/api/v1/actions/{created['id']}")
    assert r.status_code == 200
    body = r.json()
    assert r.headers["etag"] == f'"{body["id"]}.1"'
    for name, value in FICHE.items():
        assert body[name] == value
    assert {f["libelle"] for f in body["fiche"]} == set(FICHE_LABELS.values())
    assert "Modalités de mise en œuvre" in {f["libelle"] for f in body["fiche"]}
    assert body["statut"] == "à venir"
    assert body["en_retard"] is False
    assert body["referent"] == "Mme Durand"


async def test_lateness_is_computed_from_due_date_and_statut(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    late = await api.action(CAF_A_AGENT, CONV_A, axe["id"], date_echeance="2026-01-31")
    done = await api.action(
        CAF_A_AGENT, CONV_A, axe["id"], date_echeance="2026-01-31", statut="réalisée"
    )
    later = await api.action(CAF_A_AGENT, CONV_A, axe["id"], date_echeance="2026-12-31")
    assert late["en_retard"] is True
    assert done["en_retard"] is False
    assert later["en_retard"] is False
    listed = await api.get(CAF_A_LECTEUR, f"/api/v1/conventions/{CONV_A}/actions?en_retard=true")
    assert [a["id"] for a in listed.json()["items"]] == [late["id"]]
    # Abandoning it ends the lateness; nothing "en retard" is ever stored.
    r = await api.patch(
        CAF_A_AGENT,
        f"/api/v1/actions/{late['id']}",
        json={"statut": "abandonnée"},
        headers={"if-match": f'"{late["id"]}.1"'},
    )
    assert r.status_code == 200
    assert r.json()["en_retard"] is False


async def test_porteurs_must_sign_the_convention_and_nothing_is_written(
    api: Api, db_engine: AsyncEngine
) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer les coopérations")
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/actions",
        json={"axe_id": axe["id"], "titre": "x", "porteur_ids": [str(COLLECTIVITE_Y)]},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "porteur_ids"
    assert await count(db_engine, Action) == 0


async def test_malformed_payload_is_a_problem_and_writes_nothing(
    api: Api, db_engine: AsyncEngine
) -> None:
    r = await api.post(
        CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes", json={"titre": "", "bogus": 1}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "urn:coop:problem:validation"
    assert {e["field"] for e in body["errors"]} >= {"titre", "bogus"}
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer les coopérations")
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/actions",
        json={
            "axe_id": axe["id"],
            "titre": "Dates à l'envers",
            "porteur_ids": [str(COLLECTIVITE_X)],
            "date_debut": "2026-05-01",
            "date_echeance": "2026-01-01",
            "statut": "en retard",
        },
    )
    assert r.status_code == 422
    assert await count(db_engine, Action) == 0


async def test_rights_on_fiches(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer la solidarité")
    mine = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    theirs = await api.action(CAF_A_AGENT, CONV_A, axe["id"], porteur_ids=[str(COLLECTIVITE_Z)])
    # The porteur's contributeur (or its partner system) updates its own action.
    r = await api.patch(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{mine['id']}",
        json={"statut": "en cours", "public_cible": "Jeunes de 16 à 25 ans"},
        headers={"if-match": f'"{mine["id"]}.1"'},
    )
    assert r.status_code == 200
    assert r.json()["statut"] == "en cours"
    assert r.headers["etag"] == f'"{mine["id"]}.2"'
    r = await api.patch(
        X_PARTNER_CLIENT,
        f"/api/v1/actions/{mine['id']}",
        json={"referent": "M. Martin"},
        headers={"if-match": f'"{mine["id"]}.2"'},
    )
    assert r.status_code == 200
    # Wrong porteur: readable (X signs the convention) but not writable.
    r = await api.patch(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{theirs['id']}",
        json={"statut": "en cours"},
        headers={"if-match": f'"{theirs["id"]}.1"'},
    )
    assert r.status_code == 403
    # Wrong role: readers never write.
    for reader in (X_LECTEUR, CAF_A_LECTEUR):
        r = await api.patch(
            reader,
            f"/api/v1/actions/{mine['id']}",
            json={"statut": "bloquée"},
            headers={"if-match": f'"{mine["id"]}.3"'},
        )
        assert r.status_code == 403
    r = await api.post(X_CONTRIBUTEUR, f"/api/v1/conventions/{CONV_A}/axes", json={"titre": "Agir"})
    assert r.status_code == 403
    # Out of scope: 404, existence not revealed.
    for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
        assert (await api.get(outsider, f"/api/v1/actions/{mine['id']}")).status_code == 404
        r = await api.patch(
            outsider,
            f"/api/v1/actions/{mine['id']}",
            json={"statut": "bloquée"},
            headers={"if-match": f'"{mine["id"]}.3"'},
        )
        assert r.status_code == 404
    assert (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_B}/actions")).status_code == 404


async def test_a_collectivite_creates_only_actions_it_carries(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer la solidarité")
    ok = await api.action(X_CONTRIBUTEUR, CONV_A, axe["id"])
    assert ok["porteur_ids"] == [str(COLLECTIVITE_X)]
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/conventions/{CONV_A}/actions",
        json={"axe_id": axe["id"], "titre": "x", "porteur_ids": [str(COLLECTIVITE_Z)]},
    )
    assert r.status_code == 403


async def test_if_match_is_required_and_checked(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer la solidarité")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    path = f"/api/v1/actions/{action['id']}"
    r = await api.patch(CAF_A_AGENT, path, json={"titre": "Nouveau"})
    assert r.status_code == 428
    r = await api.patch(
        CAF_A_AGENT, path, json={"titre": "Nouveau"}, headers={"if-match": f'"{action["id"]}.7"'}
    )
    assert r.status_code == 412
    assert r.headers["etag"] == f'"{action["id"]}.1"'
    assert (await api.get(CAF_A_AGENT, path)).json()["titre"] == "Créer un RPE"
    r = await api.patch(
        CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}", json={"titre": "Agir"}
    )
    assert r.status_code == 428


async def test_reorder_axes_and_actions_and_move_between_axes(api: Api) -> None:
    a1 = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins")
    a2 = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer l'accès")
    r = await api.post(
        CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes/ordre", json={"ids": [a2["id"], a1["id"]]}
    )
    assert r.status_code == 200
    listed = (await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes")).json()["items"]
    assert [a["id"] for a in listed] == [a2["id"], a1["id"]]
    # An incomplete list is refused (someone added an axe since).
    r = await api.post(
        CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes/ordre", json={"ids": [a1["id"]]}
    )
    assert r.status_code == 409

    x = await api.action(CAF_A_AGENT, CONV_A, a1["id"], titre="X")
    y = await api.action(CAF_A_AGENT, CONV_A, a1["id"], titre="Y")
    sub = await api.action(CAF_A_AGENT, CONV_A, a1["id"], titre="Y.1", parent_id=y["id"])
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/axes/{a1['id']}/actions/ordre",
        json={"ids": [y["id"], sub["id"], x["id"]]},
    )
    assert [a["titre"] for a in r.json()] == ["Y", "Y.1", "X"]
    # Only one level of sous-actions.
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/actions",
        json={
            "axe_id": a1["id"],
            "titre": "Y.1.1",
            "porteur_ids": [str(COLLECTIVITE_X)],
            "parent_id": sub["id"],
        },
    )
    assert r.status_code == 409
    # Move Y (and its sous-action) to the other axe; a contributeur may not move.
    etag = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{y['id']}")).headers["etag"]
    r = await api.patch(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{y['id']}",
        json={"axe_id": a2["id"]},
        headers={"if-match": etag},
    )
    assert r.status_code == 403
    r = await api.patch(
        CAF_A_AGENT,
        f"/api/v1/actions/{y['id']}",
        json={"axe_id": a2["id"]},
        headers={"if-match": etag},
    )
    assert r.status_code == 200
    moved = r.json()
    assert moved["axe_id"] == a2["id"]
    assert [s["axe_id"] for s in moved["sous_actions"]] == [a2["id"]]
    listed = (await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/actions")).json()["items"]
    assert [a["titre"] for a in listed] == ["Y", "Y.1", "X"]  # axe 2 is first now


async def test_closed_conventions_accept_no_new_actions(api: Api, db_engine: AsyncEngine) -> None:
    for convention, etat in ((CONV_RESILIEE, "résiliée"), (CONV_ECHUE, "échue")):
        r = await api.post(
            CAF_A_AGENT, f"/api/v1/conventions/{convention}/axes", json={"titre": "Agir"}
        )
        assert r.status_code == 409, r.text
        assert r.json()["etat_convention"] == etat
    assert await count(db_engine, Axe) == 0
    # Reading them stays possible.
    assert (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_ECHUE}/axes")).status_code == 200


async def test_idempotency_key_replays_the_first_result(api: Api, db_engine: AsyncEngine) -> None:
    path = f"/api/v1/conventions/{CONV_A}/axes"
    key = {"idempotency-key": "mobile-42"}
    first = await api.post(CAF_A_AGENT, path, json={"titre": "Agir"}, headers=key)
    again = await api.post(CAF_A_AGENT, path, json={"titre": "Agir"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(db_engine, Axe) == 1
    # Same key, different body: refused, nothing created.
    other = await api.post(CAF_A_AGENT, path, json={"titre": "Autre"}, headers=key)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert await count(db_engine, Axe) == 1
    # Keys are per principal: another agent's identical key is another request.
    from tests.support.personas import CAF_A_ADMIN

    r = await api.post(CAF_A_ADMIN, path, json={"titre": "Agir"}, headers=key)
    assert r.status_code == 201
    assert await count(db_engine, Axe) == 2


async def test_an_idempotency_key_too_long_is_refused_and_nothing_written(
    api: Api, db_engine: AsyncEngine
) -> None:
    path = f"/api/v1/conventions/{CONV_A}/axes"
    r = await api.post(
        CAF_A_AGENT, path, json={"titre": "Agir"}, headers={"idempotency-key": "k" * 201}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in r.json()["detail"]
    assert await count(db_engine, Axe) == 0
    r = await api.post(
        CAF_A_AGENT, path, json={"titre": "Agir"}, headers={"idempotency-key": "k" * 200}
    )
    assert r.status_code == 201


async def test_a_retried_reorder_replays_its_first_answer(api: Api) -> None:
    a1 = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins")
    a2 = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer l'accès")
    path = f"/api/v1/conventions/{CONV_A}/axes/ordre"
    key = {"idempotency-key": "ordre-axes-1"}
    first = await api.post(CAF_A_AGENT, path, json={"ids": [a2["id"], a1["id"]]}, headers=key)
    assert first.status_code == 200, first.text

    async def order() -> list[str]:
        listed = await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes")
        return [a["id"] for a in listed.json()["items"]]

    # The same key for another order: refused, nothing moves.
    other = await api.post(CAF_A_AGENT, path, json={"ids": [a1["id"], a2["id"]]}, headers=key)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency-key-reused"
    assert await order() == [a2["id"], a1["id"]]
    # Meanwhile a colleague puts them back; the app's retry must not undo that.
    await api.post(CAF_A_AGENT, path, json={"ids": [a1["id"], a2["id"]]})
    again = await api.post(CAF_A_AGENT, path, json={"ids": [a2["id"], a1["id"]]}, headers=key)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await order() == [a1["id"], a2["id"]]
    # The actions of an axe alike.
    x = await api.action(CAF_A_AGENT, CONV_A, a1["id"], titre="X")
    y = await api.action(CAF_A_AGENT, CONV_A, a1["id"], titre="Y")
    path = f"/api/v1/conventions/{CONV_A}/axes/{a1['id']}/actions/ordre"
    key = {"idempotency-key": "ordre-actions-1"}
    first = await api.post(CAF_A_AGENT, path, json={"ids": [y["id"], x["id"]]}, headers=key)
    assert [a["titre"] for a in first.json()] == ["Y", "X"]
    again = await api.post(CAF_A_AGENT, path, json={"ids": [y["id"], x["id"]]}, headers=key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await api.post(CAF_A_AGENT, path, json={"ids": [x["id"], y["id"]]}, headers=key)
    assert other.status_code == 409
    listed = (
        await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/actions?axe_id={a1['id']}")
    ).json()["items"]
    assert [a["titre"] for a in listed] == ["Y", "X"]


async def test_delete_refuses_non_empty_axes(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    r = await api.delete(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}",
        headers={"if-match": f'"{axe["id"]}.1"'},
    )
    assert r.status_code == 409
    r = await api.delete(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}",
        headers={"if-match": f'"{action["id"]}.1"'},
    )
    assert r.status_code == 403
    r = await api.delete(
        CAF_A_AGENT, f"/api/v1/actions/{action['id']}", headers={"if-match": f'"{action["id"]}.1"'}
    )
    assert r.status_code == 204
    r = await api.delete(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}",
        headers={"if-match": f'"{axe["id"]}.1"'},
    )
    assert r.status_code == 204
    assert (
        await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}")
    ).status_code == 404


async def test_action_list_pages_by_keyset_in_plan_order(api: Api) -> None:
    first_axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins")
    second_axe = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer l'accès")
    for i in range(3):
        await api.action(CAF_A_AGENT, CONV_A, second_axe["id"], titre=f"B{i}")
        await api.action(CAF_A_AGENT, CONV_A, first_axe["id"], titre=f"A{i}")
    titles: list[str] = []
    params: dict[str, str] = {"limit": "4"}
    pages = 0
    while True:
        page = (
            await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/actions", params=params)
        ).json()
        pages += 1
        titles += [a["titre"] for a in page["items"]]
        if not page["next_cursor"]:
            break
        params = {"limit": "4", "cursor": page["next_cursor"]}
    assert pages == 2
    assert titles == ["A0", "A1", "A2", "B0", "B1", "B2"]
    assert "diagnostic_initial" not in page["items"][0]  # lists stay compact


async def test_every_action_list_filter_alone_and_combined(api: Api) -> None:
    """The compiled list statements (one per set of filters used) against the plain rule."""
    first = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins")
    second = await api.axe(CAF_A_AGENT, CONV_A, "Renforcer l'accès")
    made = [
        await api.action(CAF_A_AGENT, CONV_A, first["id"], date_echeance="2026-01-31"),
        await api.action(
            CAF_A_AGENT,
            CONV_A,
            first["id"],
            statut="réalisée",
            date_echeance="2026-01-31",
            porteur_ids=[str(COLLECTIVITE_X), str(COLLECTIVITE_Z)],
        ),
        await api.action(CAF_A_AGENT, CONV_A, second["id"], statut="en cours"),
        await api.action(
            CAF_A_AGENT,
            CONV_A,
            second["id"],
            statut="en cours",
            date_echeance="2026-01-31",
            porteur_ids=[str(COLLECTIVITE_Z)],
        ),
    ]
    filters: dict[str, list[str]] = {
        "axe_id": [second["id"]],
        "statut": ["en cours", "réalisée"],
        "porteur_id": [str(COLLECTIVITE_Z)],
        "en_retard": ["true", "false"],
    }

    def expected(params: dict[str, str]) -> set[str]:
        return {
            a["id"]
            for a in made
            if a["axe_id"] == params.get("axe_id", a["axe_id"])
            and a["statut"] == params.get("statut", a["statut"])
            and params.get("porteur_id", a["porteur_ids"][0]) in a["porteur_ids"]
            and str(a["en_retard"]).lower() == params.get("en_retard", str(a["en_retard"]).lower())
        }

    combos: list[dict[str, str]] = [{}]
    for name, values in filters.items():
        combos += [{**c, name: v} for c in combos for v in values]
    for params in combos:
        r = await api.get(CAF_A_LECTEUR, f"/api/v1/conventions/{CONV_A}/actions", params=params)
        assert r.status_code == 200, params
        assert_reads_back(r.content, SyncPage[ActionSummary])
        assert {a["id"] for a in r.json()["items"]} == expected(params), params
