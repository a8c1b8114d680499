"""Sous-actions by import (« Action parente »), and the API's own move of a sous-action.

Issue 26: "a re-import updates instead of duplicating"; a plan has one level of
sous-actions (`models.Action.parent_id`), the rule the API enforces
(`rules.refus_rattachement`) is the one the import's report gives, line and column.
Files are real workbooks written by openpyxl.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import Action, historique
from tests.actions.conftest import CONV_A, Api
from tests.actions.test_imports import HEADERS, PLAN, commit, count, row, upload, workbook
from tests.support.personas import CAF_A_AGENT, X_CONTRIBUTEUR

PARENTE = HEADERS.index("Action parente")


async def _plan(api: Api) -> dict[str, dict[str, Any]]:
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    return {a["reference"] or a["titre"]: a for a in listed}


async def test_sous_actions_come_in_by_their_parents_reference(
    api: Api, db_engine: AsyncEngine
) -> None:
    """The parent in the same file (after its sous-action, any order) or already in the
    plan; the sous-action's axe is its action's (its own cell may stay empty)."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    existing = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="Ouvrir", reference="1")
    rows = [
        row("2.1", "Recruter", axe="", parent="2"),  # before its parent
        row("2", "Créer un RPE", axe="Accueillir les jeunes enfants"),
        row("1.1", "Louer un local", parent="1"),
        row("1.2", "Former", axe="Accueillir les jeunes enfants", parent="1"),
    ]
    report = await upload(api, workbook(rows))
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["valide"] is True, body["lignes"]
    lignes = body["lignes"]
    assert [(ligne["operation"], ligne["action_parente"], ligne["axe"]) for ligne in lignes] == [
        ("création", "2", "Accueillir les jeunes enfants"),
        ("création", None, "Accueillir les jeunes enfants"),
        ("création", "1", "Soutenir les parents"),
        ("création", "1", "Soutenir les parents"),
    ]
    # Another axe typed for a sous-action: said, and its action's axe kept.
    assert lignes[3]["avertissements"] == [
        "« Accueillir les jeunes enfants » n'est pas l'axe de l'action parente : une "
        "sous-action est dans l'axe de son action, « Soutenir les parents »."
    ]
    assert body["axes_nouveaux"] == ["Accueillir les jeunes enfants"]
    assert (await commit(api, report)).status_code == 200
    plan = await _plan(api)
    assert plan["2.1"]["parent_id"] == plan["2"]["id"]
    assert plan["2.1"]["axe_id"] == plan["2"]["axe_id"] != axe["id"]
    assert plan["1.1"]["parent_id"] == plan["1.2"]["parent_id"] == existing["id"]
    assert plan["1.2"]["axe_id"] == axe["id"]
    detail = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{existing['id']}")).json()
    assert [s["reference"] for s in detail["sous_actions"]] == ["1.1", "1.2"]
    history = await count(db_engine, historique)

    # The same file again changes nothing.
    again = await upload(api, workbook(rows))
    assert again.json()["totaux"]["inchangee"] == 4, again.json()["lignes"]
    assert (await commit(api, again)).status_code == 200
    assert {k: a["version"] for k, a in (await _plan(api)).items()} == {
        k: a["version"] for k, a in plan.items()
    }
    assert await count(db_engine, historique) == history

    # 1.2 moves under 2 (and so to its axe); 2.1 becomes an action of its axe.
    moved = [r[:] for r in rows]
    moved[3][PARENTE] = "2"
    moved[0][PARENTE] = None
    moved[0][HEADERS.index("Axe")] = "Accueillir les jeunes enfants"
    third = await upload(api, workbook(moved))
    lignes = third.json()["lignes"]
    assert [(ligne["operation"], ligne["changements"]) for ligne in lignes] == [
        ("modification", ["Action parente"]),
        ("inchangée", []),
        ("inchangée", []),
        ("modification", ["Action parente"]),
    ]
    assert (await commit(api, third)).status_code == 200, third.text
    after = await _plan(api)
    assert after["1.2"]["parent_id"] == after["2"]["id"]
    assert after["1.2"]["axe_id"] == after["2"]["axe_id"]
    assert after["2.1"]["parent_id"] is None
    # Recorded as the API's own write: the field, before and after.
    entries = await api.get(CAF_A_AGENT, f"/api/v1/actions/{after['1.2']['id']}/historique")
    latest = entries.json()["items"][0]
    assert (latest["objet_type"], latest["evenement"]) == ("sous-action", "modification")
    changes = {c["champ"]: (c["avant"], c["apres"]) for c in latest["changements"]}
    assert changes["parent_id"] == (existing["id"], after["2"]["id"])
    assert changes["axe_id"] == (axe["id"], after["2"]["axe_id"])


async def test_an_action_and_its_sous_actions_change_places(api: Api) -> None:
    """One commit where a parent becomes a sous-action and its own sous-action an action:
    the writes are ordered so each is valid when made."""
    first = [row("1", "Ouvrir"), row("1.1", "Louer", parent="1"), row("2", "Créer")]
    report = await upload(api, workbook(first))
    assert (await commit(api, report)).status_code == 200
    swapped = [row("1", "Ouvrir", parent="2"), row("1.1", "Louer"), row("2", "Créer")]
    report = await upload(api, workbook(swapped))
    assert report.json()["valide"] is True, report.json()["lignes"]
    assert (await commit(api, report)).status_code == 200, report.text
    plan = await _plan(api)
    assert (plan["1"]["parent_id"], plan["1.1"]["parent_id"]) == (plan["2"]["id"], None)


async def test_parents_refused_with_line_column_and_reason(
    api: Api, db_engine: AsyncEngine
) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    top = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="Ouvrir", reference="1")
    await api.action(CAF_A_AGENT, CONV_A, axe["id"], reference="1.1", parent_id=top["id"])
    rows = [
        row("3", "Inconnue", parent="9"),
        row("4", "Sous une sous-action", parent="1.1"),  # in the plan
        row("5", "Elle-même", parent="5"),
        row("6", "Cycle", parent="7"),
        row("7", "Cycle", parent="6"),
        row("8", "Sous une sous-action du fichier", parent="6"),
        row("1", "Ouvrir", parent="2"),  # has a sous-action (1.1, not in the file)
        row("2", "Créer"),
    ]
    before = await count(db_engine, Action)
    report = await upload(api, workbook(rows))
    body = report.json()
    assert body["valide"] is False
    refusals = [
        (e["ligne"], e["colonne"], e["champ"], e["message"])
        for ligne in body["lignes"]
        for e in ligne["erreurs"]
    ]
    assert refusals == [
        (
            2,
            "B",
            "Action parente",
            "l'action parente « 9 » n'est ni une ligne du fichier ni une action du plan.",
        ),
        (3, "B", "Action parente", "Une sous-action ne peut pas avoir elle-même de sous-actions."),
        (4, "B", "Action parente", "Une action ne peut pas être sa propre action parente."),
        (
            5,
            "B",
            "Action parente",
            "Deux actions ne peuvent pas être chacune l'action parente de l'autre.",
        ),
        (
            6,
            "B",
            "Action parente",
            "Deux actions ne peuvent pas être chacune l'action parente de l'autre.",
        ),
        (7, "B", "Action parente", "Une sous-action ne peut pas avoir elle-même de sous-actions."),
        (
            8,
            "B",
            "Action parente",
            "Une action qui a des sous-actions ne peut pas devenir une sous-action.",
        ),
    ]
    assert (await commit(api, report)).status_code == 409
    assert await count(db_engine, Action) == before


async def test_the_api_moves_a_sous_action_to_another_parent(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    other_axe = await api.axe(CAF_A_AGENT, CONV_A, "Accueillir")
    p1 = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="P1")
    p2 = await api.action(CAF_A_AGENT, CONV_A, other_axe["id"], titre="P2")
    sub = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="S", parent_id=p1["id"])

    async def patch(action: dict[str, Any], body: dict[str, Any]) -> Any:
        path = f"/api/v1/actions/{action['id']}"
        etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
        return await api.patch(CAF_A_AGENT, path, json=body, headers={"if-match": etag})

    path = f"/api/v1/actions/{sub['id']}"
    etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
    r = await api.patch(
        X_CONTRIBUTEUR, path, json={"parent_id": p2["id"]}, headers={"if-match": etag}
    )
    assert r.status_code == 403, r.text  # the plan's structure is the Caf's
    assert "rattacher une action à une autre" in r.json()["detail"]
    r = await patch(sub, {"parent_id": p2["id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["parent_id"], r.json()["axe_id"]) == (p2["id"], other_axe["id"])
    for target, body in (
        (p1, {"parent_id": p1["id"]}),  # its own parent
        (p1, {"parent_id": sub["id"]}),  # under a sous-action
        (p2, {"parent_id": p1["id"]}),  # P2 has a sous-action
        (sub, {"parent_id": p1["id"], "axe_id": other_axe["id"]}),  # not its action's axe
    ):
        r = await patch(target, body)
        assert r.status_code == 409, (body, r.text)
    r = await patch(sub, {"parent_id": None})
    assert r.status_code == 200, r.text
    assert (r.json()["parent_id"], r.json()["axe_id"]) == (None, other_axe["id"])
