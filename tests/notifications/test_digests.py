"""The daily and weekly digests: one e-mail per person and digest time grouping what
waited, at 07:00 Europe/Paris (Monday for the weekly one), exactly once; checked again
at digest time (a revoked person, a family switched off); a person erased by the
gateway leaves no preference nor pending item. Time moves by the clock setting.

Issue 25: "Preferences per person and per family of event: immediate, daily digest
(07:00 Europe/Paris), weekly digest (Monday), or off"; "Scheduled work (campaign
opening, reminders, digests) runs on the suite's PostgreSQL-backed job queue: exactly
once per schedule across processes and replicas"; "digests group, nothing is sent
twice"."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import func, select

from coop.mailbox import html_of, text_of
from kernel.principal import OrganisationKind, Role
from services.notifications.digests import PARIS, digest_times, send_digests
from services.notifications.models import ElementRecapitulatif, Preference
from tests.gateway.habilitations.rig import revoke
from tests.gateway.habilitations.test_retention import later, run_job
from tests.notifications.conftest import World
from tests.notifications.test_flow import _action_with_suivi, _mine, _step
from tests.support.personas import CAF_A, COLLECTIVITE_X

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite
P = "/api/v1/moi/preferences"


def paris(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def test_digest_times_are_07_00_in_paris_whatever_the_season() -> None:
    # Winter (UTC+1): 06:00 UTC. Tuesday 8 December 2026, just before and at 07:00.
    assert digest_times(paris(12, 8, 6, 59)) == (utc(12, 7, 6), utc(12, 7, 6))
    assert digest_times(paris(12, 8, 7)) == (utc(12, 8, 6), utc(12, 7, 6))
    # Summer (UTC+2): 05:00 UTC; the weekly one is Monday 29 June.
    assert digest_times(paris(7, 1, 8)) == (utc(7, 1, 5), utc(6, 29, 5))
    # Sunday 29 March 2026 the clocks go forward at 02:00: 07:00 is 05:00 UTC that day,
    # 06:00 UTC the day before.
    assert digest_times(utc(3, 29, 5, 30))[0] == utc(3, 29, 5)
    assert digest_times(utc(3, 29, 4, 30))[0] == utc(3, 28, 6)
    # Sunday 25 October they go back: Monday 26 it is 06:00 UTC again, and weekly.
    assert digest_times(utc(10, 26, 6, 30)) == (utc(10, 26, 6), utc(10, 26, 6))


async def _digests(w: World) -> int:
    return await send_digests(w.sessionmaker, w.settings, w.people)


async def _set(w: World, who: str, **modes: str) -> None:
    resp = await w.as_(who, "PATCH", P, json={"modes": modes})
    assert resp.status_code == 200, resp.text


async def _submitted(w: World, count: int) -> list[str]:
    """`count` suivis submitted by the contributeur and acted on; their actions' ids."""
    actions = []
    for _ in range(count):
        action_id, periode = await _action_with_suivi(w)
        await _step(w, "contrib", action_id, periode, "soumission")
        actions.append(action_id)
    assert await w.follow() == count
    return actions


async def _pending(w: World) -> int:
    async with w.sessionmaker() as session:
        stmt = select(func.count()).where(ElementRecapitulatif.envoi_id.is_(None))
        return int(await session.scalar(stmt.select_from(ElementRecapitulatif)) or 0)


async def test_a_daily_digest_groups_what_waited_and_is_sent_once(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("admin-a", CAF_A, CAF, Role.administrateur)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    agent = await w.login("agent")
    await _set(w, "agent", suivis="quotidien")
    w.settings.clock = paris(12, 8, 10)  # a Tuesday
    actions = await _submitted(w, 2)
    # In the app at once; by e-mail, nothing yet.
    assert (await _mine(w, "agent"))["non_lues"] == 2
    assert await w.send() == 0
    assert w.mails() == []

    w.settings.clock = paris(12, 9, 6, 59)
    assert await _digests(w) == 0
    w.settings.clock = paris(12, 9, 7, 1)
    # Two workers at once: one digest.
    assert sum(await asyncio.gather(_digests(w), _digests(w))) == 1
    assert await _digests(w) == 0
    assert await w.send() == 1
    (mail,) = w.mails()
    assert mail["To"] == "agent@test.invalid"
    assert mail["Subject"] == "Coopération : votre récapitulatif du jour (2 notifications)"
    text, html = text_of(mail), html_of(mail)
    assert "Suivis trimestriels :" in text
    for action_id in actions:
        assert f"https://app.cooperation.test/actions/{action_id}/suivis/" in text
        assert f'href="https://app.cooperation.test/actions/{action_id}/suivis/' in html
    assert text.count("soumis : Créer un RPE") == 2
    assert "Récit détaillé" not in text  # titles and links, never a suivi's narrative
    assert "https://app.cooperation.test/preferences" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The delivery log shows it like any e-mail.
    log = (await w.as_("admin-a", "GET", "/api/v1/envois")).json()["items"]
    assert [
        (e["type"], e["famille"], e["statut"], e["personne_id"], e["personne_nom"]) for e in log
    ] == [("recapitulatif.quotidien", None, "envoyé", str(agent), "Agent")]

    # The digest time's key: an item held before 07:00 but acted on late waits for the
    # next digest rather than making a second one the same day.
    async with w.sessionmaker() as session:
        late = await session.get(ElementRecapitulatif, await _any_item(w))
        assert late is not None
        session.add(
            ElementRecapitulatif(
                **{
                    c: getattr(late, c)
                    for c in ("personne_id", "adresse", "nom", "famille", "type", "source")
                },
                id=uuid.uuid4(),
                evenement_id=uuid.uuid4(),
                titre="Suivi 2026-T3 soumis : En retard",
                lien="https://app.cooperation.test/actions/x/suivis/2026-T3",
                convention_id=None,
                caf_ids=[],
                cree_le=paris(12, 9, 6, 59),
            )
        )
        await session.commit()
    w.later(3600)
    assert await _digests(w) == 0
    assert await _pending(w) == 1
    w.settings.clock = paris(12, 10, 7, 1)
    assert await _digests(w) == 1
    assert await w.send() == 1
    assert w.mails()[-1]["Subject"].endswith("(1 notification)")

    # Its one-click unsubscribe switches off the families it grouped.
    token = mail["List-Unsubscribe"].strip("<>").rsplit("/", 1)[-1]
    done = await w.hab.client.post(f"/desabonnement/{token}", content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200, done.text
    modes = {p["famille"]: p["mode"] for p in (await w.as_("agent", "GET", P)).json()["items"]}
    assert (modes["suivis"], modes["discussions"]) == ("désactivé", "quotidien")


async def _any_item(w: World) -> uuid.UUID:
    async with w.sessionmaker() as session:
        found = await session.scalar(select(ElementRecapitulatif.id).limit(1))
        assert found is not None
        return found


async def test_a_weekly_digest_waits_for_monday(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("agent")
    await _set(w, "agent", suivis="hebdomadaire")
    w.settings.clock = paris(12, 8, 10)  # Tuesday
    await _submitted(w, 1)
    for day in (9, 10, 11, 12, 13):  # Wednesday to Sunday
        w.settings.clock = paris(12, day, 7, 1)
        assert await _digests(w) == 0
    w.settings.clock = paris(12, 14, 7, 1)  # Monday
    assert await _digests(w) == 1
    assert await w.send() == 1
    (mail,) = w.mails()
    assert mail["Subject"] == "Coopération : votre récapitulatif de la semaine (1 notification)"


async def test_at_digest_time_a_revoked_person_or_a_family_off_gets_nothing(
    world: World,
) -> None:
    """Recipients were resolved when the event was acted on; the digest asks again."""
    w = world
    revoked = await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("agent2", CAF_A, CAF, Role.agent)
    await w.hab.grant("agent3", CAF_A, CAF, Role.agent)
    await w.hab.grant("admin-a", CAF_A, CAF, Role.administrateur)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    for name in ("agent", "agent2", "agent3"):
        await w.login(name)
        await _set(w, name, suivis="quotidien")
    await w.login("admin-a")
    await _set(w, "admin-a", suivis="désactivé")
    w.settings.clock = paris(12, 8, 10)
    await _submitted(w, 1)
    assert await _pending(w) == 3
    await revoke(w.hab, revoked, "admin-a")
    await _set(w, "agent2", suivis="désactivé")
    w.settings.clock = paris(12, 9, 7, 1)
    assert await _digests(w) == 1
    assert await _pending(w) == 0  # the two others' dropped, not kept for later
    assert await w.send() == 1
    assert [m["To"] for m in w.mails()] == ["agent3@test.invalid"]
    # The in-app notifications were recorded when the event was acted on.
    assert (await _mine(w, "agent2"))["non_lues"] == 1


async def test_an_erased_person_leaves_no_preference_nor_pending_item(
    world: World, database_url: str
) -> None:
    """The gateway's person erasure (a year after their last grant ended) reaches the
    notifications service through its event feed."""
    w = world
    parti = await w.hab.grant("parti", CAF_A, CAF, Role.agent)
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("admin-a", CAF_A, CAF, Role.administrateur)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.login("parti")
    agent_id = await w.login("agent")
    await _set(w, "parti", suivis="quotidien", discussions="hebdomadaire")
    await _set(w, "agent", suivis="quotidien")
    await _submitted(w, 1)
    assert await _pending(w) == 2
    await revoke(w.hab, parti, "admin-a")

    erased = await run_job(database_url, "gateway.person-erasure", later(366))
    assert erased.persons == 1
    assert await w.follow("gateway") == 1
    async with w.sessionmaker() as session:
        kept = (await session.execute(select(Preference.personne_id))).scalars().all()
        held = (await session.execute(select(ElementRecapitulatif.personne_id))).scalars().all()
    assert set(kept) == {agent_id}
    assert held == [agent_id]
