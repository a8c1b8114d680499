"""E-mails: the invitation goes to the invitee; SMTP down means retries with back-off,
nothing lost and nothing sent twice; a message that keeps failing ends "échec" with
the reason; the delivery log is a Caf administrator's to read; one-click unsubscribe."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from coop.mailbox import smtp_server, text_of
from kernel.migrations import upgrade
from kernel.principal import OrganisationKind, Role
from services.notifications.models import Envoi
from tests.notifications.conftest import World
from tests.notifications.test_flow import _action_with_suivi, _step
from tests.support.fresh_database import fresh_database, sql
from tests.support.personas import CAF_A, CAF_B, COLLECTIVITE_X

__all__ = ["fresh_database"]

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite


async def _log(w: World) -> list[Envoi]:
    async with w.sessionmaker() as session:
        return list((await session.scalars(select(Envoi).order_by(Envoi.cree_le))).all())


async def test_an_invitation_is_mailed_to_the_invitee_with_its_link(world: World) -> None:
    """ "invitation created → an e-mail to the invitee with the acceptance link (the token
    no longer needs to go back to the inviter)" (issue 25)."""
    w = world
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    created = await w.as_(
        "referent",
        "POST",
        "/api/v1/invitations",
        json={
            "email": "invitee@test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "contributeur",
        },
    )
    assert created.status_code == 201, created.text
    assert await w.follow("gateway") == 1
    assert await w.send() == 1
    (mail,) = w.mails()
    assert mail["To"] == "invitee@test.invalid"
    assert mail["Subject"] == "Invitation à rejoindre Coopération"
    body = text_of(mail)
    link = f"https://app.cooperation.test/invitations/acceptation?jeton={created.json()['jeton']}"
    assert link in body
    assert "Referent vous invite à rejoindre Coopération" in body
    assert "rôle contributeur" in body
    # No account to unsubscribe yet: a one-off, transactional message.
    assert mail["List-Unsubscribe"] is None
    # The token works: the invitee accepts it once logged in.
    accepted = await w.as_(
        "invitee",
        "POST",
        "/api/v1/invitations/acceptation",
        json={"jeton": created.json()["jeton"]},
    )
    assert accepted.status_code in (200, 201), accepted.text


async def test_smtp_down_retries_with_back_off_then_sends_once(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    assert await w.follow() == 1
    w.settings.smtp_port = w.smtp_port + 1  # nothing listens there: refused
    assert await w.send() == 0
    (envoi,) = await _log(w)
    assert (envoi.statut, envoi.tentatives) == ("en attente", 1)
    assert envoi.raison
    # Not due again before its back-off (60 s).
    w.later(30)
    assert await w.send() == 0
    assert (await _log(w))[0].tentatives == 1
    w.settings.smtp_port = w.smtp_port
    w.later(31)
    assert await w.send() == 1
    (envoi,) = await _log(w)
    assert (envoi.statut, envoi.tentatives, envoi.raison) == ("envoyé", 2, None)
    assert envoi.contexte is None  # what it was rendered from is not kept
    assert len(w.mails()) == 1
    w.later(3600)
    assert await w.send() == 0
    assert len(w.mails()) == 1


async def test_a_message_that_keeps_failing_ends_failed_with_the_reason(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    await w.follow()
    w.settings.smtp_port = w.smtp_port + 1
    for wait in (0, 60, 120):  # 3 tries: now, +60 s, +120 s
        w.later(wait)
        assert await w.send() == 0
    (envoi,) = await _log(w)
    assert (envoi.statut, envoi.tentatives) == ("échec", 3)
    assert "Connect" in (envoi.raison or "") or "refused" in (envoi.raison or "").lower()
    w.later(10_000)
    assert await w.send() == 0


async def test_the_delivery_log_is_the_caf_administrators(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("admin-a", CAF_A, CAF, Role.administrateur)
    await w.hab.grant("admin-b", CAF_B, CAF, Role.administrateur)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    await w.follow()
    await w.send()
    mine = await w.as_("admin-a", "GET", "/api/v1/envois")
    assert mine.status_code == 200, mine.text
    (line,) = mine.json()["items"]
    assert (line["adresse"], line["personne_nom"], line["statut"], line["type"]) == (
        "agent@test.invalid",
        "Agent",
        "envoyé",
        "suivi.soumis",
    )
    other_caf = await w.as_("admin-b", "GET", "/api/v1/envois")
    assert other_caf.json()["items"] == []
    assert (await w.as_("agent", "GET", "/api/v1/envois")).status_code == 403
    assert (await w.as_("contrib", "GET", "/api/v1/envois")).status_code == 403
    failed = await w.as_("admin-a", "GET", "/api/v1/envois", params={"statut": "échec"})
    assert failed.json()["items"] == []


def test_lines_queued_before_names_were_kept_take_the_name_they_wait_with(
    fresh_database: str,
) -> None:
    """Migration 0004 (issue 23, names beside ids): a message still waiting holds the
    name it is rendered with and the log takes it; a sent one no longer does (its
    rendering values are erased once sent) and stays unnamed, as does an invitation."""
    url = fresh_database
    upgrade("notifications", url, "0003")
    waiting, sent, invitation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    insert = (
        "INSERT INTO notifications.envois (id, cree_le, personne_id, adresse, famille, type,"
        " source, evenement_id, sujet, statut, tentatives, prochain_essai, caf_ids, modele,"
        " contexte) VALUES ($1, now(), $2, 'x@test.invalid', 'suivis', 'suivi.soumis',"
        " 'actions', $1, 'Sujet', $3, 0, now(), '{}', 'notification', $4::jsonb)"
    )
    sql(url, insert, waiting, uuid.uuid4(), "en attente", '{"nom": "Camille Martin"}')
    sql(url, insert, sent, uuid.uuid4(), "envoyé", None)
    sql(url, insert, invitation, None, "en attente", '{"nom": null}')
    upgrade("notifications", url)
    rows = sql(url, "SELECT id, personne_nom FROM notifications.envois")
    assert {r["id"]: r["personne_nom"] for r in rows} == {
        waiting: "Camille Martin",
        sent: None,
        invitation: None,
    }


async def test_one_click_unsubscribe_stops_that_family_s_mail(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    await w.follow()
    await w.send()
    (mail,) = w.mails()
    token = mail["List-Unsubscribe"].strip("<>").rsplit("/", 1)[-1]
    # A person opening the link sees a page; nothing changes on a GET (RFC 8058).
    page = await w.hab.client.get(f"/desabonnement/{token}")
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    # The mail provider's one-click POST, without login, through the gateway.
    done = await w.hab.client.post(f"/desabonnement/{token}", content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200, done.text
    assert "suivis trimestriels" in done.text
    forged = await w.hab.client.post(f"/desabonnement/{token[:-4]}AAAA")
    assert forged.status_code == 404
    # The next submission: in the app, not by e-mail.
    action_id, periode = await _action_with_suivi(w)
    await _step(w, "contrib", action_id, periode, "soumission")
    assert await w.follow() == 1
    assert await w.send() == 0
    assert len(w.mails()) == 1
    assert len((await w.as_("agent", "GET", "/api/v1/moi/notifications")).json()["items"]) == 2
    assert uuid.UUID(str((await _log(w))[0].personne_id))


__all__ = ["smtp_server"]
