"""The discussions' events reach their people: the person a comment mentions, the
thread's other participants; in the app and by e-mail, titles and a link, never the
comment's text. Recipients are resolved when the event is acted on: a person mentioned
whose grant was revoked meanwhile hears nothing.

Issue 25: "recipients are resolved from the habilitations at sending time: someone
whose grant was revoked ... hears nothing about it"."""

from __future__ import annotations

from typing import Any

from coop.mailbox import html_of, text_of
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import revoke
from tests.notifications.conftest import World
from tests.notifications.test_flow import _action_with_suivi, _mine
from tests.support.personas import CAF_A, COLLECTIVITE_X

SECRET = "Le budget du RPE est confidentiel"


async def _comment(w: World, who: str, path: str, **body: Any) -> None:
    resp = await w.as_(who, "POST", path, json={"texte": SECRET, **body})
    assert resp.status_code == 201, resp.text


async def test_a_mention_reaches_the_person_mentioned_and_not_a_revoked_one(
    world: World,
) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, OrganisationKind.caf, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, OrganisationKind.collectivite, Role.contributeur)
    await w.hab.grant("referent", COLLECTIVITE_X, OrganisationKind.collectivite, Role.referent)
    parti = await w.hab.grant(
        "parti", COLLECTIVITE_X, OrganisationKind.collectivite, Role.contributeur
    )
    ids = {name: str(await w.login(name)) for name in ("agent", "contrib", "referent", "parti")}
    # Discussions are in the daily digest by default (test_preferences.py): these two
    # want each e-mail as it comes.
    for name in ("agent", "referent"):
        immediate = {"modes": {"discussions": "immédiat"}}
        assert (await w.as_(name, "PATCH", "/api/v1/moi/preferences", json=immediate)).is_success
    action_id, periode = await _action_with_suivi(w)
    thread = f"/api/v1/actions/{action_id}/suivis/{periode}/commentaires"

    await _comment(w, "referent", thread)
    # Both read the convention when the comment is posted: the mention is accepted.
    await _comment(w, "contrib", thread, mentions=[ids["agent"], ids["parti"]])
    # Revoked before the events are acted on: "parti" hears nothing of them.
    await revoke(w.hab, parti, "referent")
    # The suivi's creation is no event; the two comments published, one mention.
    assert await w.follow() == 3

    (mention,) = (await _mine(w, "agent"))["items"]
    assert mention["type"] == "commentaire.mention"
    assert mention["famille"] == "discussions"
    assert mention["titre"] == "Vous êtes mentionné(e) : Créer un RPE"
    assert mention["texte"].startswith(
        f"Contrib vous a mentionné(e) dans un commentaire sur le suivi {periode}"
    )
    link = (
        f"https://app.cooperation.test/actions/{action_id}/suivis/{periode}/commentaires"
        "#commentaire-"
    )
    assert mention["lien"].startswith(link)
    # The thread's earlier author hears of the new comment; its author of nothing.
    (publie,) = (await _mine(w, "referent"))["items"]
    assert publie["type"] == "commentaire.publie"
    assert publie["titre"] == "Nouveau commentaire : Créer un RPE"
    assert (await _mine(w, "parti"))["items"] == []
    assert (await _mine(w, "contrib"))["items"] == []
    for n in (mention, publie):
        assert SECRET not in n["texte"]

    assert await w.send() == 2
    mails = {m["To"]: m for m in w.mails()}
    assert sorted(mails) == ["agent@test.invalid", "referent@test.invalid"]
    mail = mails["agent@test.invalid"]
    assert mail["Subject"] == "Vous êtes mentionné(e) : Créer un RPE"
    assert link in text_of(mail)
    for body in (text_of(mail), html_of(mail)):
        assert SECRET not in body
    # Its own family to unsubscribe from (RFC 8058).
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
