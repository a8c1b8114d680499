"""What the campaigns' reminders of a day are about (the internal route the
notifications service reads, kernel.rappels_ref), and the steps' calendar.

Issue 25: "reminders before the campaign's due date (J-15, J-7) and once it is overdue
(then weekly), only for actions still to fill"; the due date is the convention's own
when a Caf set one, else the default (quarter end + COOP_ACTIONS_CAMPAGNE_DELAI_JOURS)."""

from __future__ import annotations

import datetime as dt

import httpx

from kernel.rappels_ref import RAPPELS_PATH, RappelConvention, RappelsPage
from services.actions.rules import campagnes_a_rappeler, etape_rappel
from tests.actions.conftest import CONV_A, CONV_B, Api, h
from tests.actions.test_internal import service_headers
from tests.support.personas import CAF_A_AGENT, CAF_B_AGENT, COLLECTIVITE_Y, X_CONTRIBUTEUR

D = dt.date


def test_each_step_is_a_window_from_its_first_day() -> None:
    opening, due = D(2026, 1, 16), D(2026, 4, 15)
    steps = {
        D(2026, 1, 15): None,
        D(2026, 1, 16): "ouverture",
        D(2026, 3, 30): "ouverture",
        D(2026, 3, 31): "j15",
        D(2026, 4, 7): "j15",
        D(2026, 4, 8): "j7",
        D(2026, 4, 15): "j7",
        D(2026, 4, 16): "retard-1",
        D(2026, 4, 22): "retard-1",
        D(2026, 4, 23): "retard-2",
    }
    assert {day: etape_rappel(day, opening, due) for day in steps} == steps
    # The campaign of the quarter before stays reminded of until the next one closes.
    assert [str(t) for t in campagnes_a_rappeler(D(2026, 4, 15), 15)] == ["2025-T4", "2026-T1"]
    assert [str(t) for t in campagnes_a_rappeler(D(2026, 4, 16), 15)] == ["2026-T1", "2026-T2"]


async def _all(client: httpx.AsyncClient, day: dt.date, limit: int) -> list[RappelConvention]:
    items: list[RappelConvention] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"date": day.isoformat(), "limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = await client.get(RAPPELS_PATH, params=params, headers=service_headers())
        assert resp.status_code == 200, resp.text
        page = RappelsPage.model_validate_json(resp.content)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def test_per_convention_its_step_and_its_actions_still_to_fill(
    client: httpx.AsyncClient, api: Api
) -> None:
    axe_a = (await api.axe(CAF_A_AGENT, CONV_A, "Agir"))["id"]
    todo = await api.action(CAF_A_AGENT, CONV_A, axe_a, titre="Créer un RPE")
    await api.action(CAF_A_AGENT, CONV_A, axe_a, titre="Déjà fait", statut="réalisée")
    submitted = await api.action(CAF_A_AGENT, CONV_A, axe_a, titre="Soumise")
    suivi = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{submitted['id']}/suivis",
        json={"periode": "2026-T1", "statut_action": "en cours"},
    )
    assert suivi.status_code == 201, suivi.text
    sent = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{submitted['id']}/suivis/2026-T1/soumission",
        headers={"if-match": suivi.headers["etag"]},
    )
    assert sent.status_code == 200, sent.text
    axe_b = (await api.axe(CAF_B_AGENT, CONV_B, "Agir"))["id"]
    other = await api.action(
        CAF_B_AGENT, CONV_B, axe_b, titre="Ouvrir un LAEP", porteur_ids=[str(COLLECTIVITE_Y)]
    )
    # Caf B gave its convention until 30 April: J-15 there when Caf A's is overdue.
    moved = await api.put(
        CAF_B_AGENT,
        f"/api/v1/conventions/{CONV_B}/campagnes/2026-T1",
        json={"date_limite": "2026-04-30"},
    )
    assert moved.status_code == 201, moved.text

    # One convention per page: the keyset walks both campaigns, then stops.
    items = await _all(client, D(2026, 4, 16), 1)
    by_key = {(i.periode, i.convention_id): i for i in items}
    assert set(by_key) == {
        ("2026-T1", CONV_A),
        ("2026-T1", CONV_B),
        ("2026-T2", CONV_A),
        ("2026-T2", CONV_B),
    }
    late = by_key[("2026-T1", CONV_A)]
    assert (late.etape, late.date_limite) == ("retard-1", D(2026, 4, 15))
    # Neither the réalisée action nor the submitted suivi: only what is still to fill.
    assert [(str(a.id), a.titre) for a in late.actions] == [(todo["id"], "Créer un RPE")]
    assert late.caf_id in late.signataire_ids
    own_date = by_key[("2026-T1", CONV_B)]
    assert (own_date.etape, own_date.date_limite) == ("j15", D(2026, 4, 30))
    assert [a.porteur_ids for a in own_date.actions] == [[COLLECTIVITE_Y]]
    assert str(own_date.actions[0].id) == other["id"]
    # The next campaign opens the same day: every action of it is to fill.
    assert by_key[("2026-T2", CONV_A)].etape == "ouverture"
    assert len(by_key[("2026-T2", CONV_A)].actions) == 2
    assert items == await _all(client, D(2026, 4, 16), 100)


async def test_only_services_call_it_and_cursors_are_checked(client: httpx.AsyncClient) -> None:
    params = {"date": "2026-04-16"}
    assert (await client.get(RAPPELS_PATH, params=params)).status_code == 401
    person = await client.get(RAPPELS_PATH, params=params, headers=h(CAF_A_AGENT))
    assert person.status_code == 403
    forged = await client.get(
        RAPPELS_PATH, params={**params, "cursor": "nope"}, headers=service_headers()
    )
    assert forged.status_code == 400
    assert forged.json()["detail"] == "Curseur de pagination invalide."
