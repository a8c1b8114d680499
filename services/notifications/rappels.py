"""The campaigns' scheduled messages: a campaign opened, its reminders at J-15 and J-7
and weekly once overdue, to the contributeurs of the actions still to fill, and a
summary to the Caf agents of each convention (job `notifications.rappels`).

A run computes what is due as of `settings.now()` (the day in Europe/Paris), in two
steps, each idempotent:

1. **Due**: the actions service's internal route (kernel.rappels_ref) gives, per
   convention in force, its campaign's step that day and its actions still to fill;
   who hears of it is resolved then from the gateway's grants (kernel.people_ref: the
   porteurs' contributeurs and referents, the Caf's agents and administrators; a
   revoked person is not among them). Each (person, action or convention, campaign,
   step) is inserted once (`rappels`' primary key, ON CONFLICT DO NOTHING): re-runs,
   two workers, a crash mid-run never make a second one.
2. **Grouped**: each person's pending reminders become ONE message (in-app notification
   and e-mail) listing them, in the transaction that marks them grouped: one message
   per person and run, not one per action. A crash before the commit leaves them
   pending for the next run; after it, they are never grouped again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.people_ref import PersonneRef, PersonnesClient
from kernel.principal import Role
from kernel.rappels_ref import RappelConvention, RappelsClient
from services.notifications import preferences
from services.notifications import repository_rappels as rrepo
from services.notifications.messages import CAF_AGENTS, PORTEUR_WRITERS, Content
from services.notifications.models import Famille
from services.notifications.repository_rappels import RappelRow
from services.notifications.service import EnvoiFactory, records_for_person
from services.notifications.settings import NotificationsSettings

SOURCE = "rappels"
PARIS = ZoneInfo("Europe/Paris")
OUVERTURE = "ouverture"
PORTEUR = "porteur"
CAF = "caf"
# The in-app `type` of each kind of grouped message.
TYPE_OUVERTURE = "campagne.ouverte"
TYPE_RAPPEL = "campagne.rappel"
TYPE_SYNTHESE = "campagne.synthese"
# Conventions examined per page of the actions service; persons grouped per transaction.
PAGE_CONVENTIONS = 200
GROUP_PERSONS = 200
# The gateway's filter takes at most this many organisations per call.
ORGANISATIONS_PER_CALL = 200
# In-app text: at most this many conventions listed (the link shows them all).
TEXT_CONVENTIONS = 10
# Reminders are kept this long (a campaign is reminded of for two quarters at most).
RETENTION = dt.timedelta(days=200)


def today(settings: NotificationsSettings) -> dt.date:
    return settings.now().astimezone(PARIS).date()


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: RappelsClient,
    people: PersonnesClient,
    settings: NotificationsSettings,
) -> int:
    """What is due today, recorded once and grouped; how many messages were made."""
    await stage(sessionmaker, source, people, settings)
    return await group(sessionmaker, settings)


# --- 1. what is due, once per person, object, campaign and step ---------------------------


async def stage(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: RappelsClient,
    people: PersonnesClient,
    settings: NotificationsSettings,
) -> int:
    """Record today's reminders not recorded yet; how many were new. The next page is
    asked for while this one is recorded (the actions service works meanwhile)."""
    day, now = today(settings), settings.now()
    new = 0
    fetching = asyncio.ensure_future(source.page(day, None, PAGE_CONVENTIONS))
    try:
        while True:
            page = await fetching
            if page.next_cursor is not None:
                fetching = asyncio.ensure_future(
                    source.page(day, page.next_cursor, PAGE_CONVENTIONS)
                )
            if page.items:
                lines, persons = await _rows(page.items, people)
                async with sessionmaker() as session:
                    new += await rrepo.insert_new(session, lines, persons, now)
                    await session.commit()
            if page.next_cursor is None:
                return new
    finally:
        fetching.cancel()


async def _by_organisation(
    people: PersonnesClient, organisations: set[uuid.UUID], roles: Sequence[Role]
) -> dict[uuid.UUID, list[PersonneRef]]:
    out: dict[uuid.UUID, list[PersonneRef]] = defaultdict(list)
    wanted = sorted(organisations)
    for i in range(0, len(wanted), ORGANISATIONS_PER_CALL):
        chunk = wanted[i : i + ORGANISATIONS_PER_CALL]
        for p in await people.of_organisations(chunk, roles):
            out[p.organisation_id].append(p)
    return out


def _readers(item: RappelConvention) -> set[uuid.UUID]:
    """The porteurs whose grants read the convention: its signatories, not its Caf."""
    return set(item.signataire_ids) - {item.caf_id}


async def _rows(
    items: Sequence[RappelConvention], people: PersonnesClient
) -> tuple[rrepo.Lines, rrepo.People]:
    """A page's lines (each action once per porteur reading the convention, each
    convention's summary once for its Caf) and the persons of those organisations
    (writers of the porteurs, agents of the Cafs): the database joins them."""
    readers = {i.convention_id: _readers(i) for i in items}
    lines = rrepo.Lines()
    for item in items:
        for action in item.actions:
            for org in set(action.porteur_ids) & readers[item.convention_id]:
                lines.add(item, action.id, org, PORTEUR, action.titre, None)
        # The Caf agents' summary is for reminders, not for the opening.
        if item.etape != OUVERTURE:
            summary = (item.convention_id, item.caf_id, CAF, item.convention_titre)
            lines.add(item, *summary, len(item.actions))
    persons = rrepo.People()
    for roles, orgs in (
        (PORTEUR_WRITERS, set(lines.org) - {i.caf_id for i in items}),
        (CAF_AGENTS, {i.caf_id for i in items if i.etape != OUVERTURE}),
    ):
        for org, found in (await _by_organisation(people, orgs, roles)).items():
            for person in found:
                persons.add(org, person)
    return lines, persons


# --- 2. one message per person ----------------------------------------------------------------


async def group(
    sessionmaker: async_sessionmaker[AsyncSession], settings: NotificationsSettings
) -> int:
    """Each person's pending reminders as one message; how many messages."""
    made = 0
    app = settings.app_base_url.rstrip("/")
    while True:
        async with sessionmaker() as session:
            # One grouper at a time: a concurrent one waits, then finds these grouped.
            await rrepo.lock_grouping(session)
            pending = await rrepo.pending(session, GROUP_PERSONS)
            if not pending:
                return made
            by_person: dict[uuid.UUID, list[RappelRow]] = defaultdict(list)
            for r in pending:
                by_person[r.personne_id].append(r)
            # The persons' modes for the family, as for every event (preferences.py).
            modes = await preferences.modes_for(session, list(by_person), Famille.rappels)
            grouped: dict[uuid.UUID, uuid.UUID] = {}
            records: list[object] = []
            now = settings.now()
            for person, lines in by_person.items():
                lot = uuid.uuid4()
                grouped[person] = lot
                type_, content, contexte = message(lines, app)
                conventions = {r.convention_id for r in lines}
                envoi = EnvoiFactory(
                    SOURCE,
                    type_,
                    lot,
                    now,
                    conventions.pop() if len(conventions) == 1 else None,
                    Famille.rappels,
                    content,
                    sorted({r.caf_id for r in lines}),
                    now,
                    contexte,
                )
                first = lines[0]
                records += records_for_person(
                    envoi, person, first.nom, first.adresse, modes[person], modele="rappel"
                )
            await rrepo.add(session, *records)
            await rrepo.mark_grouped(session, grouped)
            await session.commit()
            made += len(grouped)


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _detail(line: RappelRow) -> str:
    due = _fr(line.date_limite)
    if line.etape == OUVERTURE:
        return f"campagne {line.periode} ouverte, date limite le {due}"
    if line.etape.startswith("retard"):
        return f"campagne {line.periode}, date limite dépassée depuis le {due}"
    return f"campagne {line.periode}, date limite le {due}"


def _porteur_title(lines: Sequence[RappelRow]) -> str:
    """The subject of a contributeur's message: how many suivis (action × campaign),
    how many late, by when."""
    n = len({(r.objet_id, r.periode) for r in lines})
    late = len({(r.objet_id, r.periode) for r in lines if r.etape.startswith("retard")})
    if all(r.etape == OUVERTURE for r in lines):
        periodes = ", ".join(sorted({r.periode for r in lines}))
        return f"Campagne de suivi {periodes} ouverte : {n} suivi(s) à renseigner"
    if late == n:
        return f"Suivis en retard : {n} suivi(s) à renseigner"
    if late:
        return f"Suivis à renseigner : {n} suivi(s), dont {late} en retard"
    soonest = min(r.date_limite for r in lines if r.etape != OUVERTURE)
    return f"Suivis à renseigner avant le {_fr(soonest)} : {n} suivi(s)"


def message(lines: Sequence[RappelRow], app: str) -> tuple[str, Content, dict[str, JsonValue]]:
    """The one message of a person's pending reminders: its type, its content (title,
    in-app text, link) and what its e-mail is rendered from (titles and links only)."""
    porteur = [r for r in lines if r.destinataire == PORTEUR]
    sections: dict[tuple[uuid.UUID, str], list[RappelRow]] = defaultdict(list)
    for r in sorted(lines, key=lambda r: (r.date_limite, r.convention_titre, r.titre)):
        sections[(r.convention_id, r.periode)].append(r)
    rendered: list[JsonValue] = []
    text: list[str] = []
    for (convention_id, periode), rs in sections.items():
        first = rs[0]
        board = f"{app}/conventions/{convention_id}/campagnes/{periode}"
        actions: list[JsonValue] = [
            {"titre": r.titre, "lien": f"{app}/actions/{r.objet_id}/suivis/{r.periode}"}
            for r in rs
            if r.destinataire == PORTEUR
        ]
        summary = next((r for r in rs if r.destinataire == CAF), None)
        detail = _detail(first)
        if summary is not None and not actions:
            detail += f" : {summary.nombre} suivi(s) à renseigner"
        rendered.append(
            {"titre": first.convention_titre, "detail": detail, "lien": board, "actions": actions}
        )
        listed = " ; ".join(str(a["titre"]) for a in actions if isinstance(a, dict))
        text.append(f"{first.convention_titre} ({detail}){' : ' + listed if listed else ''}")
    if porteur:
        type_, titre = TYPE_RAPPEL, _porteur_title(porteur)
        if all(r.etape == OUVERTURE for r in porteur):
            type_ = TYPE_OUVERTURE
        lien = f"{app}/moi/actions-a-renseigner"
        intro = "Les suivis trimestriels de ces actions sont à renseigner :"
    else:
        type_ = TYPE_SYNTHESE
        n = sum(r.nombre or 0 for r in lines)
        periodes = ", ".join(sorted({r.periode for r in lines}))
        titre = f"Campagne {periodes} : {n} suivi(s) restent à renseigner"
        lien = f"{app}/campagnes/{sorted({r.periode for r in lines})[-1]}"
        intro = "Dans les conventions que vous suivez, des suivis restent à renseigner :"
    more = len(text) - TEXT_CONVENTIONS
    texte = "\n".join(text[:TEXT_CONVENTIONS]) + (
        f"\n… et {more} autre(s) convention(s)." if more > 0 else ""
    )
    contexte: dict[str, JsonValue] = {"intro": intro, "sections": rendered}
    return type_, Content(titre, texte, texte, lien), contexte


async def purge(sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime) -> int:
    """Reminders grouped long ago: no step of their campaign can be due any more."""
    async with sessionmaker() as session:
        deleted = await rrepo.purge(session, now - RETENTION)
        await session.commit()
        return deleted
