"""The campaigns' scheduled messages reach the right people, grouped, and never twice.

Issue 25: "campaign opened (start of the quarter) → contributeurs who carry actions to
fill; reminders before the campaign's due date (J-15, J-7) and once it is overdue (then
weekly), only for actions still to fill → their contributeurs, and a summary to the Caf
agents of the convention"; "a reminder is never sent twice to a person for the same
action, campaign and step (a unique key, not a hope)". Time moves by the notifications
settings' clock (the day the job asks the actions service about), never by sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import func, select

from coop.mailbox import html_of, text_of
from kernel.app import internal_signer
from kernel.convention_ref import upsert_refs
from kernel.principal import OrganisationKind, Role
from kernel.rappels_ref import RappelsClient
from services.actions.models import convention_ref as actions_refs
from services.actions.rules import Trimestre
from services.notifications import rappels
from services.notifications.models import ElementRecapitulatif, Rappel
from tests.gateway.habilitations.rig import CONVENTION_A, refs, revoke
from tests.notifications.conftest import World
from tests.support.personas import CAF_A, CAF_B, COLLECTIVITE_X

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite
APP = "https://app.cooperation.test"


def _quarter() -> Trimestre:
    """The campaign the tests follow: last quarter's (its suivis may be written now)."""
    return Trimestre.of(dt.datetime.now(dt.UTC).date()).precedent()


async def _convention_from(w: World, t: Trimestre) -> None:
    """CONVENTION_A in force from the quarter's first day: no earlier campaign is due."""
    ref = next(r for r in refs() if r.id == CONVENTION_A)
    moved = ref.model_copy(update={"date_debut": t.debut, "seq": 100})
    async with w.sessionmaker() as session:
        await upsert_refs(session, actions_refs, [moved])
        await session.commit()


def _on(w: World, day: dt.date) -> None:
    w.settings.clock = dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC)


async def _run(w: World) -> int:
    client = RappelsClient(w.http, internal_signer(w.settings), w.actions_url)
    return await rappels.run(w.sessionmaker, client, w.people, w.settings)


async def _action(w: World, axe_id: str, titre: str) -> str:
    resp = await w.as_(
        "agent",
        "POST",
        f"/api/v1/conventions/{CONVENTION_A}/actions",
        json={"axe_id": axe_id, "titre": titre, "porteur_ids": [str(COLLECTIVITE_X)]},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _submit(w: World, action_id: str, periode: str) -> None:
    created = await w.as_(
        "contrib",
        "POST",
        f"/api/v1/actions/{action_id}/suivis",
        json={"periode": periode, "statut_action": "en cours", "realisations": "Fait"},
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/actions/{action_id}/suivis/{periode}"
    etag = created.headers["etag"]
    resp = await w.as_("contrib", "POST", f"{path}/soumission", headers={"if-match": etag})
    assert resp.status_code == 200, resp.text


async def _mine(w: World, who: str) -> list[dict[str, Any]]:
    resp = await w.as_(who, "GET", "/api/v1/moi/notifications")
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def _to(w: World, address: str) -> list[Any]:
    return [m for m in w.mails() if m["To"] == address]


async def test_opening_reminders_and_summary_reach_the_right_people_once(world: World) -> None:
    w = world
    t = _quarter()
    periode = str(t)
    await _convention_from(w, t)
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("autre-agent", CAF_B, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("lecteur", COLLECTIVITE_X, COLL, Role.lecteur)
    for name in ("agent", "autre-agent", "contrib", "referent", "parti", "lecteur"):
        await w.login(name)
    axe = await w.as_(
        "agent", "POST", f"/api/v1/conventions/{CONVENTION_A}/axes", json={"titre": "Agir"}
    )
    assert axe.status_code == 201, axe.text
    rpe = await _action(w, axe.json()["id"], "Créer un RPE")
    lieu = await _action(w, axe.json()["id"], "Ouvrir un lieu d'accueil")
    fait = await _action(w, axe.json()["id"], "Former les animateurs")
    await _submit(w, fait, periode)  # submitted: nothing to remind of
    due = t.echeance_par_defaut(15)

    # Opening: the first day the campaign is the current one (the day after the
    # previous campaign's due date) -> the porteur's contributeurs and referents.
    _on(w, t.precedent().echeance_par_defaut(15) + dt.timedelta(days=1))
    assert await _run(w) == 3  # contrib, referent, parti: one message each
    (opened,) = await _mine(w, "contrib")
    assert opened["type"] == "campagne.ouverte"
    assert opened["titre"] == f"Campagne de suivi {periode} ouverte : 2 suivi(s) à renseigner"
    assert opened["lien"] == f"{APP}/moi/actions-a-renseigner"
    assert "Créer un RPE" in opened["texte"]
    assert "Former les animateurs" not in opened["texte"]
    for nobody in ("agent", "autre-agent", "lecteur"):
        assert await _mine(w, nobody) == []
    # The same day again (a second tick, a retried job): nothing more.
    assert await _run(w) == 0

    assert await w.send() == 3
    (mail,) = _to(w, "contrib@test.invalid")
    assert mail["Subject"] == opened["titre"]
    body = text_of(mail)
    assert f"- Créer un RPE : {APP}/actions/{rpe}/suivis/{periode}" in body
    assert f"- Ouvrir un lieu d'accueil : {APP}/actions/{lieu}/suivis/{periode}" in body
    assert "Former les animateurs" not in body
    assert f'<a href="{APP}/actions/{rpe}/suivis/{periode}">Créer un RPE</a>' in html_of(mail)
    assert mail["List-Unsubscribe"].startswith("<https://api.cooperation.test/desabonnement/")
    assert "rappels de campagne" in body

    # J-15: the revoked contributeur hears nothing; the Caf's agents get the summary.
    await revoke(w.hab, parti, "referent")
    _on(w, due - dt.timedelta(days=15))
    assert await _run(w) == 3  # contrib, referent, agent
    assert len(await _mine(w, "parti")) == 1  # the opening only
    (summary,) = await _mine(w, "agent")
    assert summary["type"] == "campagne.synthese"
    assert summary["titre"] == f"Campagne {periode} : 2 suivi(s) restent à renseigner"
    assert summary["lien"] == f"{APP}/campagnes/{periode}"
    assert await _mine(w, "autre-agent") == []
    reminder = (await _mine(w, "contrib"))[0]
    assert reminder["titre"] == f"Suivis à renseigner avant le {due:%d/%m/%Y} : 2 suivi(s)"
    await w.send()
    (agent_mail,) = _to(w, "agent@test.invalid")
    board = f"{APP}/conventions/{CONVENTION_A}/campagnes/{periode}"
    assert board in text_of(agent_mail)
    assert "2 suivi(s) à renseigner" in text_of(agent_mail)
    assert "Créer un RPE" not in text_of(agent_mail)  # a count and a link, not the list

    # Filled meanwhile: J-7 is only about what is still to fill.
    await _submit(w, lieu, periode)
    _on(w, due - dt.timedelta(days=7))
    assert await _run(w) == 3
    j7 = (await _mine(w, "contrib"))[0]
    assert j7["titre"] == f"Suivis à renseigner avant le {due:%d/%m/%Y} : 1 suivi(s)"
    assert "Ouvrir un lieu d'accueil" not in j7["texte"]

    # Overdue: once, then weekly. The same day the next campaign opens: one message
    # tells both (the late suivi, and the three of the new campaign).
    _on(w, due + dt.timedelta(days=1))
    assert await _run(w) == 3
    late = (await _mine(w, "contrib"))[0]
    assert late["titre"] == "Suivis à renseigner : 4 suivi(s), dont 1 en retard"
    assert (await _mine(w, "agent"))[0]["titre"] == (
        f"Campagne {periode} : 1 suivi(s) restent à renseigner"
    )
    _on(w, due + dt.timedelta(days=4))
    assert await _run(w) == 0
    _on(w, due + dt.timedelta(days=8))
    assert await _run(w) == 3
    weekly = (await _mine(w, "contrib"))[0]
    assert weekly["titre"] == "Suivis en retard : 1 suivi(s) à renseigner"
    assert len(await _mine(w, "contrib")) == 5  # opening, J-15, J-7, two weekly
    assert len(await _mine(w, "agent")) == 4  # J-15, J-7, two weekly

    # Every key once: person x action (or convention) x campaign x step.
    async with w.sessionmaker() as session:
        keys = (
            await session.execute(
                select(Rappel.etape, func.count()).group_by(Rappel.etape).order_by(Rappel.etape)
            )
        ).all()
    assert dict(keys) == {
        "ouverture": 12,  # 2 actions x 3 persons, then the next campaign's 3 x 2
        "j15": 5,  # 2 actions x 2 persons + the agent's summary
        "j7": 3,
        "retard-1": 3,
        "retard-2": 3,
    }


async def test_a_stalled_run_and_a_concurrent_one_send_once(world: World) -> None:
    """A run that stopped after recording (a crash before grouping) and two runs at once
    still give each person one message per step."""
    w = world
    t = _quarter()
    await _convention_from(w, t)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("contrib")
    axe = await w.as_(
        "contrib", "GET", f"/api/v1/conventions/{CONVENTION_A}/axes"
    )  # readable: the convention is in the contributeur's scope
    assert axe.status_code == 200, axe.text
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    created = await w.as_(
        "agent", "POST", f"/api/v1/conventions/{CONVENTION_A}/axes", json={"titre": "Agir"}
    )
    await _action(w, created.json()["id"], "Créer un RPE")
    _on(w, t.echeance_par_defaut(15) - dt.timedelta(days=7))
    client = RappelsClient(w.http, internal_signer(w.settings), w.actions_url)
    # Recorded, then the process died before grouping: recorded again, no new key.
    assert await rappels.stage(w.sessionmaker, client, w.people, w.settings) == 2
    assert await rappels.stage(w.sessionmaker, client, w.people, w.settings) == 0
    made = await asyncio.gather(_run(w), _run(w))
    assert sum(made) == 2  # contrib and agent, once each
    assert len(await _mine(w, "contrib")) == 1
    assert await _run(w) == 0
    assert await w.send() == 2
    assert len(w.mails()) == 2
    # Kept while a step of their campaign may still fall due, then purged.
    assert await rappels.purge(w.sessionmaker, w.settings.now()) == 0
    later = w.settings.now() + rappels.RETENTION + dt.timedelta(days=1)
    assert await rappels.purge(w.sessionmaker, later) == 2


async def test_each_person_s_mode_for_the_family_applies(world: World) -> None:
    """The reminders go the way of every event (preferences.py): in the app always; by
    e-mail now by default, held for the digest, or not at all, as the person chose for
    the family "rappels"."""
    w = world
    t = _quarter()
    await _convention_from(w, t)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    for name, mode in (("contrib", "quotidien"), ("agent", "désactivé"), ("referent", None)):
        await w.login(name)
        if mode is not None:
            chosen = await w.as_(
                name, "PATCH", "/api/v1/moi/preferences", json={"modes": {"rappels": mode}}
            )
            assert chosen.status_code == 200, chosen.text
    created = await w.as_(
        "agent", "POST", f"/api/v1/conventions/{CONVENTION_A}/axes", json={"titre": "Agir"}
    )
    await _action(w, created.json()["id"], "Créer un RPE")
    _on(w, t.echeance_par_defaut(15) - dt.timedelta(days=7))
    assert await _run(w) == 3
    for name in ("contrib", "referent", "agent"):
        assert len(await _mine(w, name)) == 1
    assert await w.send() == 1
    assert [m["To"] for m in w.mails()] == ["referent@test.invalid"]
    async with w.sessionmaker() as session:
        held = (await session.execute(select(ElementRecapitulatif.personne_id))).scalars().all()
    assert held == [await w.hab.person_id("contrib")]
