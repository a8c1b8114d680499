"""The plan's history (issue 24): "a porteur's contributeur can rename an action
(allowed) and no trace remains of who did it" no more. Every change to an axe, an
action, a sous-action, an indicator or its values is recorded: who (id and name at the
time), when, through which client, what (field by field); read like the object."""

from __future__ import annotations

import uuid
from typing import Any

from tests.actions.conftest import CONV_A, CONV_B, Api
from tests.support.conventions import sections_completes
from tests.support.history import assert_append_only
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    MOBILE_APP,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    Y_CONTRIBUTEUR,
)

A = "/api/v1/actions"


async def _history(api: Api, path: str, who: Any = X_LECTEUR) -> list[dict[str, Any]]:
    r = await api.get(who, f"{path}/historique")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _changes(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["champ"]: (c["avant"], c["apres"]) for c in entry["changements"]}


async def test_a_porteurs_rename_of_an_action_names_who_and_through_which_client(
    api: Api,
) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Accueillir les jeunes enfants")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="Créer un RPE")
    path = f"{A}/{action['id']}"
    renamed = await api.patch(
        X_CONTRIBUTEUR,
        path,
        json={"titre": "Ouvrir un RPE intercommunal"},
        headers={"if-match": f'"{action["id"]}.1"'},
    )
    assert renamed.status_code == 200, renamed.text
    renamed = await api.patch(
        X_PARTNER_CLIENT,
        path,
        json={"statut": "en cours", "referent": "Mme Durand"},
        headers={"if-match": f'"{action["id"]}.2"'},
    )
    assert renamed.status_code == 200, renamed.text
    by_partner, rename, creation = await _history(api, path)
    assert (rename["evenement"], rename["auteur"], rename["auteur_nom"], rename["client"]) == (
        "modification",
        X_CONTRIBUTEUR.subject,
        "X Contributeur",
        MOBILE_APP,
    )
    assert _changes(rename) == {"titre": ("Créer un RPE", "Ouvrir un RPE intercommunal")}
    assert rename["changements"][0]["libelle"] == "Titre"
    assert (rename["objet_type"], rename["objet_libelle"]) == (
        "action",
        "Ouvrir un RPE intercommunal",
    )
    assert (by_partner["auteur_nom"], by_partner["client"]) == (
        "SI de la collectivité X",
        "partenaire-x",
    )
    assert _changes(by_partner) == {
        "statut": ("à venir", "en cours"),
        "referent": (None, "Mme Durand"),
    }
    assert (creation["evenement"], creation["auteur_nom"]) == ("création", "Caf A Agent")
    assert _changes(creation)["porteur_ids"] == (None, [str(action["porteur_ids"][0])])


async def test_axes_sous_actions_indicators_and_values_are_recorded_where_they_belong(
    api: Api,
) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir la parentalité")
    axe_path = f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}"
    r = await api.patch(
        CAF_A_AGENT,
        axe_path,
        json={"description": "Axe 2 du diagnostic"},
        headers={"if-match": f'"{axe["id"]}.1"'},
    )
    assert r.status_code == 200, r.text
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    sous_action = await api.action(
        X_CONTRIBUTEUR,
        CONV_A,
        axe["id"],
        titre="Animer un café des parents",
        parent_id=action["id"],
    )
    ind = await api.post(
        X_CONTRIBUTEUR,
        f"{A}/{action['id']}/indicateurs",
        json={"libelle": "Familles accueillies", "nature": "réalisation", "unite": "familles"},
    )
    assert ind.status_code == 201, ind.text
    ind_path = f"{A}/{action['id']}/indicateurs/{ind.json()['id']}"
    value = f"{ind_path}/valeurs/2026-T1"
    created = await api.put(X_CONTRIBUTEUR, value, json={"valeur": 12})
    assert created.status_code == 201, created.text
    etag = created.headers["etag"]
    # The same value again (12.00 as stored): no change to record.
    same = await api.put(X_CONTRIBUTEUR, value, json={"valeur": "12.0"}, headers={"if-match": etag})
    assert same.status_code == 200, same.text
    replaced = await api.put(
        CAF_A_AGENT,
        value,
        json={"valeur": 15, "commentaire": "Chiffre de juin"},
        headers={"if-match": same.headers["etag"]},
    )
    assert replaced.status_code == 200, replaced.text

    axe_history = await _history(api, axe_path)
    assert [(e["evenement"], list(_changes(e))) for e in axe_history] == [
        ("modification", ["description"]),
        ("création", ["titre", "position"]),
    ]
    # The indicator's history shows its values: created, then replaced (field by field).
    replacement, value_created, ind_created = await _history(api, ind_path)
    assert (ind_created["objet_type"], ind_created["evenement"]) == ("indicateur", "création")
    assert (value_created["objet_type"], value_created["objet_libelle"]) == (
        "valeur d'indicateur",
        "2026-T1",
    )
    assert _changes(value_created)["valeur"] == (None, "12")
    assert value_created["parent_id"] == ind.json()["id"]
    assert _changes(replacement) == {
        "valeur": ("12", "15"),
        "commentaire": (None, "Chiffre de juin"),
    }
    assert replacement["auteur_nom"] == "Caf A Agent"
    # The action's history shows its sous-action's and its indicator's rows.
    kinds = [(e["objet_type"], e["evenement"]) for e in await _history(api, f"{A}/{action['id']}")]
    assert kinds == [
        ("indicateur", "création"),
        ("sous-action", "création"),
        ("action", "création"),
    ]
    sous = await _history(api, f"{A}/{sous_action['id']}")
    assert [(e["objet_type"], e["parent_id"]) for e in sous] == [("sous-action", action["id"])]


async def test_a_deleted_action_keeps_its_history_read_like_its_convention(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Accompagner les jeunes")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="Créer un PIJ")
    path = f"{A}/{action['id']}"
    r = await api.delete(CAF_A_AGENT, path, headers={"if-match": f'"{action["id"]}.1"'})
    assert r.status_code == 204, r.text
    deletion, creation = await _history(api, path)
    assert (deletion["evenement"], deletion["auteur_nom"]) == ("suppression", "Caf A Agent")
    assert _changes(deletion)["titre"] == ("Créer un PIJ", None)
    assert creation["evenement"] == "création"
    # Outside the convention's readers, or never existed: the same 404.
    for who, where in (
        (Y_CONTRIBUTEUR, path),
        (CAF_B_AGENT, path),
        (X_LECTEUR, f"{A}/{uuid.uuid4()}"),
    ):
        r = await api.get(who, f"{where}/historique")
        assert r.status_code == 404, (who.name, r.text)
        assert r.json()["detail"] == "Action introuvable."
    # An axe of another convention is not found under this one.
    axe_b = await api.axe(CAF_B_AGENT, CONV_B, "Agir")
    r = await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/axes/{axe_b['id']}/historique")
    assert r.status_code == 404


async def test_the_feed_part_is_the_conventions_plan_newest_first_in_pages(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Informer les familles")
    await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    feed = f"/internal/v1/conventions/{CONV_A}/historique"
    first = await api.get(X_LECTEUR, feed, params={"limit": "1"})
    assert first.status_code == 200, first.text
    (newest,) = first.json()["items"]
    assert (newest["source"], newest["objet_type"]) == ("actions", "action")
    second = await api.get(
        X_LECTEUR, feed, params={"limit": "1", "cursor": first.json()["next_cursor"]}
    )
    assert [(e["objet_type"], e["objet_id"]) for e in second.json()["items"]] == [
        ("axe", axe["id"])
    ]
    assert (await api.get(Y_CONTRIBUTEUR, feed)).status_code == 404


async def test_the_plans_history_cannot_be_rewritten(api: Api, database_url: str) -> None:
    """Issue 24: no history row can be altered by the application's database role."""
    await api.axe(CAF_A_AGENT, CONV_A, "Agir pour le logement")
    await assert_append_only(database_url, "actions.historique")


async def test_a_suivis_steps_and_the_values_its_validation_sets_are_in_the_history(
    api: Api,
) -> None:
    """A suivi's steps show under its action (in the convention's feed), and the values
    its validation makes the indicator's are recorded as the validator's."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    ind = await api.post(
        CAF_A_AGENT,
        f"{A}/{action['id']}/indicateurs",
        json={"libelle": "Familles accompagnées", "nature": "réalisation", "unite": "familles"},
    )
    assert ind.status_code == 201, ind.text
    base = f"{A}/{action['id']}/suivis"
    body = {
        "periode": "2026-T1",
        "statut_action": "en cours",
        "avancement": 40,
        "valeurs": [{"indicateur_id": ind.json()["id"], "valeur": 12}],
    }
    r = await api.post(X_CONTRIBUTEUR, base, json=body)
    assert r.status_code == 201, r.text
    for who, step in ((X_CONTRIBUTEUR, "soumission"), (CAF_A_AGENT, "validation")):
        r = await api.post(
            who, f"{base}/2026-T1/{step}", json={}, headers={"if-match": r.headers["etag"]}
        )
        assert r.status_code == 200, r.text
    suivi_rows = [
        e for e in await _history(api, f"{A}/{action['id']}") if e["objet_type"] == "suivi"
    ]
    assert [(e["evenement"], e["auteur_nom"], e["objet_libelle"]) for e in suivi_rows] == [
        ("validation", "Caf A Agent", "2026-T1"),
        ("soumission", "X Contributeur", "2026-T1"),
        ("création", "X Contributeur", "2026-T1"),
    ]
    assert _changes(suivi_rows[0])["etat"] == ("soumis", "validé")
    (value,) = [
        e
        for e in await _history(api, f"{A}/{action['id']}/indicateurs/{ind.json()['id']}")
        if e["objet_type"] == "valeur d'indicateur"
    ]
    assert (value["evenement"], value["auteur_nom"]) == ("création", "Caf A Agent")
    assert _changes(value)["valeur"] == (None, "12")


async def test_a_bilans_writing_and_adoption_are_in_the_conventions_feed(api: Api) -> None:
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
    assert r.status_code == 201, r.text
    bilan = r.json()["id"]
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    feed = await api.get(X_LECTEUR, f"/internal/v1/conventions/{CONV_A}/historique")
    rows = [e for e in feed.json()["items"] if e["objet_id"] == bilan]
    assert [(e["evenement"], e["auteur_nom"]) for e in rows] == [
        ("adoption", "Caf A Agent"),
        ("création", "X Contributeur"),
    ]
    assert _changes(rows[0])["date_adoption"] == (None, "2026-04-02")
    assert _changes(rows[0])["etat"] == ("brouillon", "adopté")
