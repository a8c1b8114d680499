"""The events reach the right people and no one else: in the app and by e-mail, once.

Issue 25: "suivi submitted → the Caf agents of the convention; sent back (à compléter,
with the comment) → the porteur's contributeurs; validated → the same"; "recipients are
resolved from the habilitations at sending time: someone whose grant was revoked ...
hears nothing about it"."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from coop.mailbox import html_of, text_of
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import CONVENTION_A, revoke
from tests.notifications.conftest import World
from tests.support.personas import CAF_A, COLLECTIVITE_X

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite


def previous_quarter() -> str:
    today = dt.datetime.now(dt.UTC).date()
    q = (today.month - 1) // 3 + 1
    year, q = (today.year, q - 1) if q > 1 else (today.year - 1, 4)
    return f"{year}-T{q}"


async def _action_with_suivi(w: World) -> tuple[str, str]:
    axe = await w.as_(
        "agent",
        "POST",
        f"/api/v1/conventions/{CONVENTION_A}/axes",
        json={"titre": "Soutenir les parents"},
    )
    assert axe.status_code == 201, axe.text
    action = await w.as_(
        "agent",
        "POST",
        f"/api/v1/conventions/{CONVENTION_A}/actions",
        json={
            "axe_id": axe.json()["id"],
            "titre": "Créer un RPE",
            "porteur_ids": [str(COLLECTIVITE_X)],
        },
    )
    assert action.status_code == 201, action.text
    action_id = action.json()["id"]
    periode = previous_quarter()
    created = await w.as_(
        "contrib",
        "POST",
        f"/api/v1/actions/{action_id}/suivis",
        json={"periode": periode, "statut_action": "en cours", "realisations": "Récit détaillé"},
    )
    assert created.status_code == 201, created.text
    return action_id, periode


async def _step(w: World, who: str, action_id: str, periode: str, step: str, **body: Any) -> None:
    path = f"/api/v1/actions/{action_id}/suivis/{periode}"
    etag = (await w.as_(who, "GET", path)).headers["etag"]
    resp = await w.as_(who, "POST", f"{path}/{step}", json=body, headers={"if-match": etag})
    assert resp.status_code == 200, resp.text


async def _mine(w: World, who: str, **params: str) -> dict[str, Any]:
    resp = await w.as_(who, "GET", "/api/v1/moi/notifications", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_a_suivi_s_steps_reach_the_right_people_once(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("lecteur", COLLECTIVITE_X, COLL, Role.lecteur)
    for name in ("agent", "contrib", "referent", "parti", "lecteur"):
        await w.login(name)
    action_id, periode = await _action_with_suivi(w)

    await _step(w, "contrib", action_id, periode, "soumission")
    assert await w.follow() == 1
    # The Caf's agent is told; the contributeur who submitted is not, nor the readers.
    agent = await _mine(w, "agent")
    assert [n["type"] for n in agent["items"]] == ["suivi.soumis"]
    assert agent["non_lues"] == 1
    assert agent["items"][0]["titre"] == f"Suivi {periode} soumis : Créer un RPE"
    assert agent["items"][0]["lien"] == (
        f"https://app.cooperation.test/actions/{action_id}/suivis/{periode}"
    )
    for other in ("contrib", "referent", "lecteur"):
        assert (await _mine(w, other))["items"] == []

    # Revoked before the next step is acted on: "parti" hears nothing of it.
    await revoke(w.hab, parti, "referent")
    await _step(w, "agent", action_id, periode, "renvoi", commentaire="Précisez les effectifs.")
    assert await w.follow() == 1
    for porteur in ("contrib", "referent"):
        (renvoi,) = (await _mine(w, porteur))["items"]
        assert renvoi["type"] == "suivi.a_completer"
        assert "Précisez les effectifs." in renvoi["texte"]  # the comment, in the app
    assert (await _mine(w, "parti"))["items"] == []
    assert (await _mine(w, "lecteur"))["items"] == []

    # Read twice (a job retried after a crash): acted on once.
    assert await w.follow() == 0

    assert await w.send() == 3
    mails = w.mails()
    assert sorted(m["To"] for m in mails) == [
        "agent@test.invalid",
        "contrib@test.invalid",
        "referent@test.invalid",
    ]
    renvoi_mail = next(m for m in mails if m["To"] == "contrib@test.invalid")
    assert renvoi_mail["Subject"] == f"Suivi {periode} à compléter : Créer un RPE"
    body = text_of(renvoi_mail)
    assert body.startswith("Bonjour Contrib,")
    assert f"https://app.cooperation.test/actions/{action_id}/suivis/{periode}" in body
    # Minimal personal data: no comment, no narrative in the e-mail.
    for private in ("Précisez les effectifs.", "Récit détaillé"):
        assert private not in body
        assert private not in html_of(renvoi_mail)
    assert '<a href="https://app.cooperation.test/actions/' in html_of(renvoi_mail)
    # One-click unsubscribe for the family (RFC 8058).
    assert renvoi_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert renvoi_mail["List-Unsubscribe"].startswith(
        "<https://api.cooperation.test/desabonnement/"
    )
    assert renvoi_mail["Content-Language"] == "fr"
    # Nothing left to send, nothing sent twice.
    assert await w.send() == 0
    assert len(w.mails()) == 3


async def test_in_app_list_pages_marks_read_and_syncs(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    ids = []
    for _ in range(3):
        action_id, periode = await _action_with_suivi(w)
        await _step(w, "contrib", action_id, periode, "soumission")
        ids.append(action_id)
    assert await w.follow() == 3
    first = await _mine(w, "agent", limit="2")
    assert first["non_lues"] == 3
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    rest = await _mine(w, "agent", limit="2", cursor=first["next_cursor"])
    everything = first["items"] + rest["items"]
    assert len({n["id"] for n in everything}) == 3
    # Newest first.
    assert [n["cree_le"] for n in everything] == sorted(
        (n["cree_le"] for n in everything), reverse=True
    )
    token = first["sync_token"]
    assert (await _mine(w, "agent", updated_since=token))["items"] == []

    one = everything[-1]["id"]
    read = await w.as_("agent", "POST", f"/api/v1/moi/notifications/{one}/lecture")
    assert read.status_code == 200, read.text
    assert read.json()["lue_le"] is not None
    synced = await _mine(w, "agent", updated_since=token)
    assert [n["id"] for n in synced["items"]] == [one]
    assert synced["non_lues"] == 2
    # Someone else's notification is not found; the contributeur has none of theirs.
    other = await w.as_("contrib", "POST", f"/api/v1/moi/notifications/{one}/lecture")
    assert other.status_code == 404
    missing = await w.as_("agent", "POST", f"/api/v1/moi/notifications/{uuid.uuid4()}/lecture")
    assert missing.status_code == 404

    all_read = await w.as_("agent", "POST", "/api/v1/moi/notifications/lecture")
    assert all_read.json() == {"marquees": 2, "non_lues": 0}
    assert (await _mine(w, "agent"))["non_lues"] == 0
    bad = await w.as_("agent", "GET", "/api/v1/moi/notifications", params={"updated_since": "x"})
    assert bad.status_code == 400
