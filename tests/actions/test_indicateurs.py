"""Indicators of an action, an axe or the convention: kinds, units, baseline, targets
per year, values per quarter or year."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import Indicateur, ValeurIndicateur
from tests.actions.conftest import CONV_A, CONV_B, Api
from tests.support.conventions import sections_completes
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_REFERENT,
    Y_CONTRIBUTEUR,
)


async def _action(api: Api) -> dict[str, Any]:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    return await api.action(CAF_A_AGENT, CONV_A, axe["id"])


async def test_indicator_with_baseline_targets_and_values(api: Api) -> None:
    action = await _action(api)
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}/indicateurs",
        json={
            "libelle": "Places EAJE PSU",
            "nature": "réalisation",
            "unite": "places",
            "valeur_reference": 40,
            "date_reference": "2024-12-31",
            "cibles": {"2026": 50, "2027": 60},
        },
    )
    assert r.status_code == 201, r.text
    ind = r.json()
    assert ind["nature"] == "réalisation"
    assert {k: float(v) for k, v in ind["cibles"].items()} == {"2026": 50.0, "2027": 60.0}
    assert float(ind["valeur_reference"]) == 40.0
    for periode, valeur in (("2026-T1", 44), ("2025", 42)):
        r = await api.put(
            X_CONTRIBUTEUR,
            f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/{periode}",
            json={"valeur": valeur, "commentaire": "Ouverture micro-crèche", "source": "Caf"},
        )
        assert r.status_code == 201, r.text
    got = (
        await api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}")
    ).json()
    assert [(v["periode"], float(v["valeur"])) for v in got["valeurs"]] == [
        ("2025", 42.0),
        ("2026-T1", 44.0),
    ]
    assert got["valeurs"][1]["source"] == "Caf"
    r = await api.put(
        Y_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2026-T2",
        json={"valeur": 1},
    )
    assert r.status_code == 404
    # An indicator is found only under its own action.
    other = await api.action(CAF_A_AGENT, CONV_A, action["axe_id"], titre="Autre action")
    wrong = f"/api/v1/actions/{other['id']}/indicateurs/{ind['id']}"
    assert (await api.get(X_LECTEUR, wrong)).status_code == 404
    assert (await api.get(X_LECTEUR, f"{wrong}/valeurs/2025")).status_code == 404
    r = await api.put(X_CONTRIBUTEUR, f"{wrong}/valeurs/2026-T2", json={"valeur": 1})
    assert r.status_code == 404
    assert r.json()["detail"] == "Indicateur introuvable."


async def test_invalid_numbers_are_clear_errors_and_nothing_is_written(
    api: Api, db_engine: AsyncEngine
) -> None:
    action = await _action(api)
    path = f"/api/v1/actions/{action['id']}/indicateurs"
    cases = [
        ({"unite": "%", "valeur_reference": 130}, "valeur_reference", "entre 0 et 100"),
        ({"unite": "places", "cibles": {"2026": 12.5}}, "cibles.2026", "entière"),
        ({"unite": "nombre", "cibles": {"2031": 3}}, "cibles.2031", "année de la convention"),
        ({"unite": "ETP", "valeur_reference": -1}, "valeur_reference", "négative"),
    ]
    for extra, field, words in cases:
        body = {"libelle": "x", "nature": "changement territorial", **extra}
        r = await api.post(CAF_A_AGENT, path, json=body)
        assert r.status_code == 422, (extra, r.text)
        problem = r.json()
        assert problem["errors"][0]["field"] == field
        assert words in problem["errors"][0]["message"]
    r = await api.post(CAF_A_AGENT, path, json={"libelle": "x", "nature": "impact", "unite": "kg"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"nature", "unite"}
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Indicateur))).scalar_one() == 0


async def test_value_outside_the_convention_or_badly_written(
    api: Api, db_engine: AsyncEngine
) -> None:
    action = await _action(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}/indicateurs",
        json={"libelle": "Taux", "nature": "changement territorial", "unite": "%"},
    )
    ind = r.json()
    base = f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs"
    assert (await api.put(CAF_A_AGENT, f"{base}/2031-T1", json={"valeur": 3})).status_code == 422
    assert (await api.put(CAF_A_AGENT, f"{base}/2026-T5", json={"valeur": 3})).status_code == 422
    assert (await api.put(CAF_A_AGENT, f"{base}/2026", json={"valeur": 101})).status_code == 422
    r = await api.put(CAF_A_AGENT, f"{base}/2026", json={"valeur": "beaucoup"})
    assert r.status_code == 422
    async with db_engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(ValeurIndicateur))).scalar_one()
    assert n == 0


async def test_replacing_a_value_needs_the_etag_read(api: Api, db_engine: AsyncEngine) -> None:
    action = await _action(api)
    ind = (
        await api.post(
            X_CONTRIBUTEUR,
            f"/api/v1/actions/{action['id']}/indicateurs",
            json={"libelle": "Places", "nature": "réalisation", "unite": "places"},
        )
    ).json()
    path = f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2026-T1"
    assert (await api.get(X_LECTEUR, path)).status_code == 404
    # Creating: no header needed, or If-None-Match: * to be sure not to replace.
    r = await api.put(X_CONTRIBUTEUR, path, json={"valeur": 44}, headers={"if-none-match": "*"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == path
    created = r.json()
    assert created["version"] == 1
    assert r.headers["etag"] == f'"{created["id"]}.1"'
    # The value read (alone, or in the indicator) carries the same ETag.
    read = await api.get(X_LECTEUR, path)
    assert read.headers["etag"] == r.headers["etag"]
    listed = (await api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}/indicateurs")).json()
    v = listed["items"][0]["valeurs"][0]
    assert f'"{v["id"]}.{v["version"]}"' == r.headers["etag"]
    # Replacing: If-None-Match: * says "only if new" (412), no If-Match is 428.
    r = await api.put(X_CONTRIBUTEUR, path, json={"valeur": 45}, headers={"if-none-match": "*"})
    assert r.status_code == 412
    assert r.headers["etag"] == read.headers["etag"]
    r = await api.put(X_CONTRIBUTEUR, path, json={"valeur": 45})
    assert r.status_code == 428
    assert r.headers["content-type"] == "application/problem+json"
    assert "If-Match" in r.json()["detail"]
    r = await api.put(
        CAF_A_AGENT, path, json={"valeur": 46}, headers={"if-match": read.headers["etag"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert float(r.json()["valeur"]) == 46.0
    assert r.headers["etag"] == f'"{created["id"]}.2"'
    # The contributeur's copy is stale now: refused, the agent's value stays.
    r = await api.put(
        X_CONTRIBUTEUR, path, json={"valeur": 45}, headers={"if-match": read.headers["etag"]}
    )
    assert r.status_code == 412
    assert r.headers["etag"] == f'"{created["id"]}.2"'
    async with db_engine.connect() as conn:
        stored = (await conn.execute(select(ValeurIndicateur.valeur))).scalars().all()
    assert [float(x) for x in stored] == [46.0]
    # If-Match on a period without a value: nothing to replace.
    other = path.replace("2026-T1", "2026-T2")
    r = await api.put(
        X_CONTRIBUTEUR, other, json={"valeur": 1}, headers={"if-match": read.headers["etag"]}
    )
    assert r.status_code == 412
    assert (await api.get(X_LECTEUR, other)).status_code == 404


async def test_indicators_of_the_convention_and_of_an_axe(api: Api) -> None:
    """Art. 9 (003): the evaluation looks at change "non pas par chaque dispositif ou
    action pris isolément, mais par les effets de l'ensemble de ces actions et
    dispositifs sur le territoire", and renders "des réalisations" and "des changements
    territoriaux": indicators hang on the convention or on one of its axes, with the
    same kinds, targets and values as an action's. The collectivité's designated persons
    conduct it "en concevant les indicateurs de suivi": a signatory's write roles define
    them, like Caf agents; readers do not."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    other_axe = await api.axe(CAF_B_AGENT, CONV_B, "Soutenir les parents")
    base = f"/api/v1/conventions/{CONV_A}/indicateurs"
    body = {
        "libelle": "Taux de couverture EAJE",
        "nature": "changement territorial",
        "unite": "%",
        "valeur_reference": 41,
        "cibles": {"2029": 50},
    }
    assert (await api.post(X_LECTEUR, base, json=body)).status_code == 403
    for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
        assert (await api.post(outsider, base, json=body)).status_code == 404
    for wrong in (str(uuid.uuid4()), other_axe["id"]):
        r = await api.post(CAF_A_AGENT, base, json={**body, "axe_id": wrong})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "axe_id"
    r = await api.post(CAF_A_AGENT, base, json={**body, "cibles": {"2031": 50}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cibles.2031"

    r = await api.post(CAF_A_AGENT, base, json=body)
    assert r.status_code == 201, r.text
    convention_ind = r.json()
    assert (convention_ind["action_id"], convention_ind["axe_id"]) == (None, None)
    assert convention_ind["convention_id"] == str(CONV_A)
    assert r.headers["location"] == f"{base}/{convention_ind['id']}"
    r = await api.post(
        X_CONTRIBUTEUR,
        base,
        json={"libelle": "Familles accompagnées", "nature": "réalisation", "unite": "familles"}
        | {"axe_id": axe["id"]},
    )
    assert r.status_code == 201, r.text
    axe_ind = r.json()
    assert axe_ind["axe_id"] == axe["id"]
    valeur = f"{base}/{convention_ind['id']}/valeurs/2026"
    assert (await api.put(X_LECTEUR, valeur, json={"valeur": 43})).status_code == 403
    r = await api.put(X_REFERENT, valeur, json={"valeur": 43})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == valeur
    assert (await api.get(X_LECTEUR, valeur)).headers["etag"] == r.headers["etag"]
    assert (await api.put(X_REFERENT, f"{valeur}1", json={"valeur": 1})).status_code == 422

    listed = (await api.get(X_LECTEUR, base)).json()["items"]
    assert [(i["id"], [v["valeur"] for v in i["valeurs"]]) for i in listed] == [
        (convention_ind["id"], ["43.00"]),
        (axe_ind["id"], []),
    ]
    by_axe = (await api.get(X_LECTEUR, base, params={"axe_id": axe["id"]})).json()["items"]
    assert [i["id"] for i in by_axe] == [axe_ind["id"]]
    # Each is found only where it hangs.
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    action_ind = (
        await api.post(
            CAF_A_AGENT,
            f"/api/v1/actions/{action['id']}/indicateurs",
            json={"libelle": "Places", "nature": "réalisation", "unite": "places"},
        )
    ).json()
    assert (
        await api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}/indicateurs/{axe_ind['id']}")
    ).status_code == 404
    assert (await api.get(X_LECTEUR, f"{base}/{action_ind['id']}")).status_code == 404
    assert [i["id"] for i in (await api.get(X_LECTEUR, base)).json()["items"]] == [
        convention_ind["id"],
        axe_ind["id"],
    ]
    r = await api.get(CAF_B_AGENT, f"{base}/{convention_ind['id']}")
    assert r.status_code == 404

    # An axe holding indicators stays; moved to the convention, it may go.
    empty_axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    path = f"{base}/{axe_ind['id']}"
    r = await api.patch(
        X_CONTRIBUTEUR,
        path,
        json={"axe_id": empty_axe["id"]},
        headers={"if-match": (await api.get(X_LECTEUR, path)).headers["etag"]},
    )
    assert r.status_code == 200, r.text
    axe_path = f"/api/v1/conventions/{CONV_A}/axes/{empty_axe['id']}"
    r = await api.delete(
        CAF_A_AGENT,
        axe_path,
        headers={"if-match": (await api.get(CAF_A_AGENT, axe_path)).headers["etag"]},
    )
    assert r.status_code == 409
    assert "indicateurs" in r.json()["detail"]
    r = await api.patch(
        X_CONTRIBUTEUR,
        path,
        json={"axe_id": None},
        headers={"if-match": (await api.get(X_LECTEUR, path)).headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["axe_id"] is None
    r = await api.delete(
        CAF_A_AGENT,
        axe_path,
        headers={"if-match": (await api.get(CAF_A_AGENT, axe_path)).headers["etag"]},
    )
    assert r.status_code == 204

    # Deletion: by those who write them, reported to delta sync under the convention's
    # list (not an action indicator's deletion).
    token = (await api.get(X_LECTEUR, base)).json()["sync_token"]
    etag = {"if-match": (await api.get(X_LECTEUR, path)).headers["etag"]}
    assert (await api.delete(X_LECTEUR, path, headers=etag)).status_code == 403
    assert (await api.delete(X_CONTRIBUTEUR, path, headers=etag)).status_code == 204
    action_ind_path = f"/api/v1/actions/{action['id']}/indicateurs/{action_ind['id']}"
    r = await api.delete(
        CAF_A_AGENT,
        action_ind_path,
        headers={"if-match": (await api.get(X_LECTEUR, action_ind_path)).headers["etag"]},
    )
    assert r.status_code == 204
    delta = (await api.get(X_LECTEUR, base, params={"updated_since": token})).json()
    assert delta["items"] == []
    assert delta["deleted"] == [{"id": axe_ind["id"], "kind": "indicateur"}]


async def test_bilan_snapshots_include_the_convention_and_axe_indicators(api: Api) -> None:
    """Art. 9 (003): the bilans render "les effets de l'ensemble" as well as each
    action's: the snapshot frozen at adoption carries every indicator of the convention,
    each with where it hangs and its values."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    base = f"/api/v1/conventions/{CONV_A}/indicateurs"
    ind = (
        await api.post(
            CAF_A_AGENT,
            base,
            json={"libelle": "Taux de couverture", "nature": "changement territorial"}
            | {"unite": "%", "axe_id": axe["id"]},
        )
    ).json()
    await api.put(CAF_A_AGENT, f"{base}/{ind['id']}/valeurs/2025", json={"valeur": 44})
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
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{r.json()['id']}/adoption",
        json={"date_adoption": "2026-01-20"},
        headers={"if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    (frozen,) = r.json()["instantane"]["indicateurs"]
    assert (frozen["id"], frozen["action_id"], frozen["axe_id"]) == (ind["id"], None, axe["id"])
    assert frozen["nature"] == "changement territorial"
    assert frozen["valeurs"] == {"2025": "44.00"}


async def test_progression_latest_value_against_its_year_target(api: Api) -> None:
    """Progress of an indicator, as the list and the detail read it: the latest period's
    value against the target of that value's year (seed 001: "des cibles de
    développement à atteindre [...] selon une trajectoire pluriannuelle"), its percent,
    and its direction since the value recorded just before."""
    action = await _action(api)
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}/indicateurs",
        json={
            "libelle": "Familles accompagnées",
            "nature": "changement territorial",
            "unite": "familles",
            "cibles": {"2025": 30, "2026": 40},
        },
    )
    assert r.status_code == 201, r.text
    ind = r.json()
    assert ind["progression"] is None  # no value yet
    path = f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}"

    async def record(periode: str, valeur: int) -> None:
        r = await api.put(X_CONTRIBUTEUR, f"{path}/valeurs/{periode}", json={"valeur": valeur})
        assert r.status_code == 201, r.text

    async def progression() -> dict[str, Any]:
        one = (await api.get(X_LECTEUR, path)).json()
        listed = (await api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}/indicateurs")).json()
        assert [i["progression"] for i in listed["items"]] == [one["progression"]]
        return dict(one["progression"])

    def seen(p: dict[str, Any]) -> tuple[object, ...]:
        cible, pct = p["cible"], p["pourcentage_de_la_cible"]
        return (
            p["periode"],
            float(p["derniere_valeur"]),
            None if cible is None else float(cible),
            None if pct is None else float(pct),
            p["tendance"],
        )

    await record("2025-T4", 18)
    assert seen(await progression()) == ("2025-T4", 18.0, 30.0, 60.0, None)
    # Recorded out of order: the latest is the latest period, not the latest write.
    await record("2026-T2", 10)
    await record("2026-T1", 18)
    assert seen(await progression()) == ("2026-T2", 10.0, 40.0, 25.0, "baisse")
    await record("2026-T3", 13)
    assert seen(await progression()) == ("2026-T3", 13.0, 40.0, 32.5, "hausse")
    # A year's own figure sums it up: it comes after its quarters.
    await record("2026", 13)
    assert seen(await progression()) == ("2026", 13.0, 40.0, 32.5, "stable")
    # A year without a target: no percent.
    await record("2027-T1", 5)
    assert seen(await progression()) == ("2027-T1", 5.0, None, None, "baisse")
