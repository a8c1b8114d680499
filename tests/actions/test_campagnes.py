"""Campaign views on a data set with every state, the national aggregates, "my work"."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.models import Campagne
from services.actions.schemas import CampagneVue
from tests.actions.conftest import COLLECTIVITE_Z, CONV_A, CONV_B, CONV_RESILIEE, Api
from tests.support.contract import assert_reads_back
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B,
    CAF_B_AGENT,
    NATIONAL,
    NOBODY,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    Y_CONTRIBUTEUR,
)
from tests.support.problems import assert_problem

BODY = {"statut_action": "en cours", "avancement": 10}


async def suivi(api: Api, action: dict[str, Any], periode: str, *steps: str, **extra: Any) -> None:
    base = f"/api/v1/actions/{action['id']}/suivis"
    r = await api.post(CAF_A_AGENT, base, json={**BODY, "periode": periode, **extra})
    assert r.status_code == 201, r.text
    for step in steps:
        body = {"commentaire": "À préciser"} if step == "renvoi" else {}
        r = await api.post(
            CAF_A_AGENT,
            f"{base}/{periode}/{step}",
            json=body,
            headers={"if-match": r.headers["etag"]},
        )
        assert r.status_code == 200, r.text


async def dataset(api: Api) -> dict[str, dict[str, Any]]:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Répondre aux besoins d'accueil")
    acts = {
        name: await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre=name)
        for name in ("manquant", "brouillon", "soumis", "valide", "a_completer")
    }
    acts["abandonnee"] = await api.action(
        CAF_A_AGENT, CONV_A, axe["id"], titre="abandonnee", statut="abandonnée"
    )
    acts["z"] = await api.action(
        CAF_A_AGENT, CONV_A, axe["id"], titre="z", porteur_ids=[str(COLLECTIVITE_Z)]
    )
    await suivi(api, acts["brouillon"], "2025-T4")
    await suivi(api, acts["soumis"], "2025-T4", "soumission")
    await suivi(api, acts["valide"], "2025-T4", "soumission", "validation")
    await suivi(
        api,
        acts["a_completer"],
        "2025-T4",
        "soumission",
        "renvoi",
        alerte=True,
        alerte_message="Locaux indisponibles",
    )
    await suivi(api, acts["z"], "2025-T4", "soumission", "validation")
    axe_b = await api.axe(CAF_B_AGENT, CONV_B, "Soutenir les parents")
    await api.action(
        CAF_B_AGENT, CONV_B, axe_b["id"], titre="valence", porteur_ids=[str(stable_y())]
    )
    return acts


def stable_y() -> Any:
    from tests.support.personas import COLLECTIVITE_Y

    return COLLECTIVITE_Y


async def test_convention_campaign_counts_every_state(api: Api) -> None:
    acts = await dataset(api)
    r = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/campagnes/2025-T4")
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["date_limite"] == "2026-01-15"
    assert view["echue"] is True
    assert view["compteurs"] == {
        "actions": 6,  # the abandoned one is due nothing
        "brouillon": 1,
        "soumis": 1,
        "validé": 2,
        "à compléter": 1,
        "manquant": 1,
        "en_retard": 3,  # missing, brouillon and à compléter after the due date
        "alertes": 1,
    }
    assert [a["titre"] for a in view["manquants"]] == ["manquant"]
    assert {a["titre"] for a in view["en_retard"]} == {"manquant", "brouillon", "a_completer"}
    assert view["alertes"] == [
        {
            "action_id": acts["a_completer"]["id"],
            "titre": "a_completer",
            "message": "Locaux indisponibles",
            "etat": "à compléter",
        }
    ]
    # A later due date: nothing is late any more.
    assert "etag" not in r.headers  # the default due date applies: nothing set yet
    r = await api.put(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/campagnes/2025-T4",
        json={"date_limite": "2026-05-01"},
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"periode": "2025-T4", "date_limite": "2026-05-01", "echue": False}
    assert "etag" in r.headers
    assert (
        await api.put(
            X_CONTRIBUTEUR,
            f"/api/v1/conventions/{CONV_A}/campagnes/2025-T4",
            json={"date_limite": "2026-05-01"},
            headers={"if-match": r.headers["etag"]},
        )
    ).status_code == 403
    view = (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/campagnes/2025-T4")).json()
    assert view["compteurs"]["en_retard"] == 0
    assert view["date_limite"] == "2026-05-01"


async def test_campaigns_exist_only_while_the_convention_runs(api: Api) -> None:
    r = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/campagnes")
    periodes = [c["periode"] for c in r.json()]
    assert periodes[0] == "2025-T1"
    assert periodes[-1] == "2029-T4"
    assert len(periodes) == 20
    r = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_RESILIEE}/campagnes")
    assert [c["periode"] for c in r.json()][-1] == "2026-T1"  # résiliée from 2026-03-01
    r = await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/campagnes/2024-T4")
    assert r.status_code == 404
    r = await api.put(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/campagnes/2030-T1",
        json={"date_limite": "2030-04-15"},
    )
    assert r.status_code == 409


async def test_changing_a_due_date_needs_the_etag_read(api: Api) -> None:
    path = f"/api/v1/conventions/{CONV_A}/campagnes/2026-T2"
    r = await api.put(
        CAF_A_AGENT, path, json={"date_limite": "2026-07-31"}, headers={"if-none-match": "*"}
    )
    assert r.status_code == 201, r.text
    first = r.headers["etag"]
    read = await api.get(X_LECTEUR, path)
    assert read.headers["etag"] == first
    assert read.json()["date_limite"] == "2026-07-31"
    # Set already: If-None-Match: * refuses, no If-Match is 428.
    r = await api.put(
        CAF_A_AGENT, path, json={"date_limite": "2026-08-15"}, headers={"if-none-match": "*"}
    )
    assert r.status_code == 412
    r = await api.put(CAF_A_AGENT, path, json={"date_limite": "2026-08-15"})
    assert r.status_code == 428
    r = await api.put(
        CAF_A_AGENT, path, json={"date_limite": "2026-08-15"}, headers={"if-match": first}
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != first
    # Another agent's copy read before that change is stale: refused, nothing changes.
    r = await api.put(
        CAF_A_AGENT, path, json={"date_limite": "2026-09-30"}, headers={"if-match": first}
    )
    assert r.status_code == 412
    assert r.json()["detail"].startswith("La ressource a été modifiée")
    view = await api.get(X_LECTEUR, path)
    assert view.json()["date_limite"] == "2026-08-15"
    listed = (await api.get(X_LECTEUR, f"/api/v1/conventions/{CONV_A}/campagnes")).json()
    assert {c["periode"]: c["date_limite"] for c in listed}["2026-T2"] == "2026-08-15"
    # A bad date is refused after the precondition, and writes nothing.
    r = await api.put(
        CAF_A_AGENT,
        path,
        json={"date_limite": "2026-01-01"},
        headers={"if-match": view.headers["etag"]},
    )
    assert r.status_code == 422
    assert (await api.get(X_LECTEUR, path)).headers["etag"] == view.headers["etag"]


async def campaign(api: Api, who: Any, path: str) -> dict[str, Any]:
    """A campaign view, checked against its documented model (it is written as JSON
    straight from the rows)."""
    r = await api.get(who, path)
    assert r.status_code == 200, r.text
    assert_reads_back(r.content, CampagneVue)
    body: dict[str, Any] = r.json()
    return body


async def test_caf_and_national_views(api: Api) -> None:
    await dataset(api)
    view = await campaign(api, CAF_A_LECTEUR, "/api/v1/campagnes/2025-T4")
    assert view["cafs"] is None
    rows = {c["convention_id"]: c for c in view["conventions"]}
    assert set(rows) == {str(CONV_A), str(CONV_RESILIEE)}  # the échue one had ended
    assert rows[str(CONV_A)]["compteurs"]["manquant"] == 1
    assert rows[str(CONV_A)]["caf_nom"] == "Caf A (test)"  # issue 23: named beside its id
    assert rows[str(CONV_A)]["compteurs"]["en_retard"] == 3
    assert set(view["total"]) >= {"validé", "à compléter"}  # the API's labels
    assert view["total"]["actions"] == 6
    # Keyset pages.
    first = await campaign(api, CAF_A_LECTEUR, "/api/v1/campagnes/2025-T4?limit=1")
    second = await campaign(
        api, CAF_A_LECTEUR, f"/api/v1/campagnes/2025-T4?limit=1&cursor={first['next_cursor']}"
    )
    assert len(first["conventions"]) == len(second["conventions"]) == 1
    assert first["conventions"][0]["convention_id"] != second["conventions"][0]["convention_id"]
    assert second["next_cursor"] is None
    # Totals cover the whole view, whichever page carries them.
    assert first["total"] == second["total"] == view["total"]
    # One Caf's view, asked for by its id.
    one_caf = await campaign(api, CAF_A_LECTEUR, f"/api/v1/campagnes/2025-T4?caf_id={CAF_A}")
    assert one_caf["conventions"] == view["conventions"]
    # National readers: aggregates per Caf, no convention or action detail.
    national = await campaign(api, NATIONAL, "/api/v1/campagnes/2025-T4")
    assert national["conventions"] is None
    per_caf = {c["caf_id"]: c for c in national["cafs"]}
    assert set(per_caf) == {str(CAF_A), str(CAF_B)}
    assert per_caf[str(CAF_A)]["conventions"] == 2
    assert per_caf[str(CAF_B)]["caf_nom"] == "Caf B (test)"
    assert per_caf[str(CAF_B)]["compteurs"]["manquant"] == 1
    assert national["total"]["actions"] == 7
    page1 = await campaign(api, NATIONAL, "/api/v1/campagnes/2025-T4?limit=1")
    page2 = await campaign(
        api, NATIONAL, f"/api/v1/campagnes/2025-T4?limit=1&cursor={page1['next_cursor']}"
    )
    assert [c["caf_id"] for c in page1["cafs"] + page2["cafs"]] == sorted(per_caf)
    assert page2["next_cursor"] is None
    assert page1["total"] == page2["total"] == national["total"]
    national_b = await campaign(api, NATIONAL, f"/api/v1/campagnes/2025-T4?caf_id={CAF_B}")
    assert national_b["cafs"] is None
    assert national_b["total"] == per_caf[str(CAF_B)]["compteurs"]
    # Others see only their own conventions.
    other = await campaign(api, Y_CONTRIBUTEUR, "/api/v1/campagnes/2025-T4")
    assert [c["convention_id"] for c in other["conventions"]] == [str(CONV_B)]
    nobody = await campaign(api, NOBODY, "/api/v1/campagnes/2025-T4")
    assert nobody["conventions"] == []
    assert set(nobody["total"].values()) == {0}
    r = await api.get(CAF_B_AGENT, f"/api/v1/conventions/{CONV_A}/campagnes/2025-T4")
    assert r.status_code == 404


async def test_my_work_lists_missing_and_to_complete_suivis(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    todo = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="à faire")
    sent_back = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="renvoyé")
    done = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="soumis")
    await api.action(
        CAF_A_AGENT, CONV_A, axe["id"], titre="de Z", porteur_ids=[str(COLLECTIVITE_Z)]
    )
    await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="finie", statut="réalisée")
    await suivi(api, sent_back, "2026-T1", "soumission", "renvoi")
    await suivi(api, done, "2026-T1", "soumission")
    r = await api.get(X_CONTRIBUTEUR, "/api/v1/moi/actions-a-renseigner")
    body = r.json()
    assert body["periode"] == "2026-T1"  # 10 April: the first quarter is due on the 15th
    got = {i["titre"]: i["etat_suivi"] for i in body["items"]}
    assert got == {"à faire": None, "renvoyé": "à compléter"}
    assert all(i["date_limite"] == "2026-04-15" for i in body["items"])
    # The Caf agent sees every action of its Caf's conventions; a reader has nothing to do.
    agent = (await api.get(CAF_A_AGENT, "/api/v1/moi/actions-a-renseigner")).json()
    assert {i["titre"] for i in agent["items"]} == {"à faire", "renvoyé", "de Z"}
    assert (await api.get(X_LECTEUR, "/api/v1/moi/actions-a-renseigner")).json()["items"] == []
    assert todo["id"] in {i["action_id"] for i in agent["items"]}
    # The same list one by one: each page resumes after the last one, none repeated.
    walked: list[str] = []
    cursor = None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.get(CAF_A_AGENT, "/api/v1/moi/actions-a-renseigner" + query)).json()
        walked += [i["titre"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(walked) == sorted(i["titre"] for i in agent["items"])
    assert len(walked) == 3


async def test_a_first_due_date_set_meanwhile_by_a_twin_request_is_a_412(
    api: Api, db_engine: AsyncEngine
) -> None:
    """Two agents set a campaign's first due date at once: the one whose row lands
    second is told to reload (412), and writes nothing."""
    path = f"/api/v1/conventions/{CONV_A}/campagnes/2026-T3"
    async with db_engine.connect() as twin:
        # The twin has inserted its row and not committed yet.
        await twin.execute(
            insert(Campagne).values(
                id=uuid.uuid4(),
                convention_id=CONV_A,
                periode="2026-T3",
                date_limite=dt.date(2026, 10, 31),
                version=1,
            )
        )
        request = asyncio.create_task(
            api.put(CAF_A_AGENT, path, json={"date_limite": "2026-11-15"})
        )
        # The request saw no campaign, and its insert now waits on the twin's row.
        for _ in range(500):
            async with db_engine.connect() as probe:
                waiting = await probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if waiting or request.done():
                break
            await asyncio.sleep(0.01)
        assert waiting == 1, "the request should be waiting on the twin's row"
        await twin.commit()
    r = await request
    assert "vient d'être fixée par ailleurs" in assert_problem(r, 412)["detail"]
    view = await api.get(X_LECTEUR, path)
    assert view.json()["date_limite"] == "2026-10-31"  # the twin's, untouched
