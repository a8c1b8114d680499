"""Preferences per person and family of events: what a person reads and changes, what
they govern (e-mail only), the defaults, and the former unsubscriptions migrated.

Issue 25: "Preferences per person and per family of event: immediate, daily digest
(07:00 Europe/Paris), weekly digest (Monday), or off; sensible defaults (reminders and
workflow immediate, the rest daily)"."""

from __future__ import annotations

import uuid
from typing import Any

from kernel.migrations import upgrade
from kernel.principal import OrganisationKind, Role
from services.notifications.models import Famille
from tests.notifications.conftest import World
from tests.notifications.test_flow import _action_with_suivi, _mine, _step
from tests.support.fresh_database import fresh_database, sql
from tests.support.personas import CAF_A, COLLECTIVITE_X

__all__ = ["fresh_database"]

P = "/api/v1/moi/preferences"
DEFAULTS = {
    "suivis": "immédiat",
    "habilitations": "immédiat",
    "invitations": "immédiat",
    "discussions": "quotidien",
    "bilans": "immédiat",
}


async def _preferences(w: World, who: str) -> dict[str, dict[str, Any]]:
    resp = await w.as_(who, "GET", P)
    assert resp.status_code == 200, resp.text
    return {p["famille"]: p for p in resp.json()["items"]}


async def test_every_family_has_a_mode_and_a_person_changes_theirs(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, OrganisationKind.caf, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, OrganisationKind.collectivite, Role.contributeur)
    mine = await _preferences(w, "agent")
    # Every family of the enum, in its order, with its default.
    assert list(mine) == [f.value for f in Famille]
    assert {f: p["mode"] for f, p in mine.items() if f in DEFAULTS} == DEFAULTS
    assert all(p["par_defaut"] for p in mine.values())
    assert mine["suivis"]["libelle"] == "suivis trimestriels"

    changed = await w.as_(
        "agent", "PATCH", P, json={"modes": {"discussions": "hebdomadaire", "suivis": "quotidien"}}
    )
    assert changed.status_code == 200, changed.text
    mine = {p["famille"]: p for p in changed.json()["items"]}
    assert (mine["discussions"]["mode"], mine["discussions"]["par_defaut"]) == (
        "hebdomadaire",
        False,
    )
    assert (mine["suivis"]["mode"], mine["suivis"]["par_defaut"]) == ("quotidien", False)
    assert mine["habilitations"] == {
        **mine["habilitations"],
        "mode": "immédiat",
        "par_defaut": True,
    }
    assert await _preferences(w, "agent") == mine
    # Another person's are their own.
    assert all(p["par_defaut"] for p in (await _preferences(w, "contrib")).values())

    # null: back to the default; the families not named stay as they were.
    back = await w.as_("agent", "PATCH", P, json={"modes": {"suivis": None}})
    assert back.status_code == 200, back.text
    mine = await _preferences(w, "agent")
    assert (mine["suivis"]["mode"], mine["suivis"]["par_defaut"]) == ("immédiat", True)
    assert mine["discussions"]["mode"] == "hebdomadaire"


async def test_an_unknown_family_or_mode_is_refused_in_french_and_writes_nothing(
    world: World,
) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, OrganisationKind.caf, Role.agent)
    before = await _preferences(w, "agent")
    for modes, pointer, message in (
        ({"suivis": "quotidien", "meteo": "quotidien"}, "/modes/meteo/[key]", "'discussions'"),
        ({"suivis": "quotidien", "discussions": "mensuel"}, "/modes/discussions", "'désactivé'"),
        ({}, "/modes", "Au moins 1"),
    ):
        resp = await w.as_("agent", "PATCH", P, json={"modes": modes})
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        (error,) = resp.json()["errors"]
        assert error["pointer"] == pointer
        assert message in error["message"]
    unknown_field = await w.as_(
        "agent", "PATCH", P, json={"modes": {"suivis": "quotidien"}, "x": 1}
    )
    assert unknown_field.status_code == 422
    assert await _preferences(w, "agent") == before


async def test_preferences_govern_e_mail_only(world: World) -> None:
    """Off: no e-mail, the notification is still in the app; immediate again: e-mailed."""
    w = world
    await w.hab.grant("agent", CAF_A, OrganisationKind.caf, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, OrganisationKind.collectivite, Role.contributeur)
    await w.login("agent")
    off = await w.as_("agent", "PATCH", P, json={"modes": {"suivis": "désactivé"}})
    assert off.status_code == 200, off.text
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    assert await w.follow() == 1
    assert await w.send() == 0
    assert w.mails() == []
    assert (await _mine(w, "agent"))["non_lues"] == 1

    await w.as_("agent", "PATCH", P, json={"modes": {"suivis": "immédiat"}})
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    assert await w.follow() == 1
    assert await w.send() == 1
    assert [m["To"] for m in w.mails()] == ["agent@test.invalid"]


def test_the_former_unsubscriptions_become_preferences_off(fresh_database: str) -> None:
    url = fresh_database
    upgrade("notifications", url, "0001")
    person = uuid.uuid4()
    sql(
        url,
        "INSERT INTO notifications.desabonnements (personne_id, famille, le) VALUES"
        " ($1, 'suivis', '2026-11-02T10:00:00Z'), ($1, 'habilitations', now())",
        person,
    )
    upgrade("notifications", url)
    rows = sql(
        url,
        "SELECT famille, mode, modifiee_le FROM notifications.preferences"
        " WHERE personne_id = $1 ORDER BY famille",
        person,
    )
    assert [(r["famille"], r["mode"]) for r in rows] == [
        ("habilitations", "désactivé"),
        ("suivis", "désactivé"),
    ]
    assert rows[1]["modifiee_le"].isoformat().startswith("2026-11-02T10:00:00")
    gone = sql(url, "SELECT to_regclass('notifications.desabonnements') AS t")
    assert gone[0]["t"] is None
