"""The daily and weekly digests: one e-mail per person and digest time grouping what
waits for them.

An event for a person whose family is in a digest mode records the in-app notification
as usual and holds its e-mail as an item (`elements_recapitulatif`, service._act). The
job `notifications.digests` (every `COOP_NOTIFICATIONS_DIGEST_SECONDS`) runs as of
`settings.now()`: once 07:00 Europe/Paris has passed (DST-correct through zoneinfo), it
gathers each person's items held before it in a family set to "quotidien" (or switched
to "immédiat" since), and on Mondays also those in "hebdomadaire" (held before Monday
07:00: a worker down on Monday catches up on Tuesday). One digest per person and
digest time, whatever their families: the delivery log's line carries that time
(`envois.echeance`, unique with the person), and the items are attached to it in the
same transaction, so a second worker or a re-run never sends it twice. The line is
then sent by `notifications.send` like any e-mail (retries, log, purge).

At digest time the items are checked again: a family switched off drops its items; an
item about a convention its person no longer reads (grant revoked or ended since the
event) is dropped, asked of the gateway once per convention in the batch
(kernel.people_ref); a gateway that does not answer stops the run, retried next time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.errors import NotFound
from kernel.people_ref import PersonnesClient
from services.notifications import preferences
from services.notifications import repository_preferences as repo
from services.notifications.models import ElementRecapitulatif, Famille, ModeEnvoi, StatutEnvoi
from services.notifications.service import FAMILY_LABELS
from services.notifications.settings import NotificationsSettings

PARIS = ZoneInfo("Europe/Paris")
DIGEST_TIME = dt.time(7)
# The source of a digest's line in the delivery log (its own id is its event id).
SOURCE = "recapitulatifs"
# Persons handled per read of the pending items (each in its own transaction).
PERSONS_PER_BATCH = 200
# Persons named per question to the gateway (they travel in its query string).
PERSONS_PER_QUERY = 50


def digest_times(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The latest daily digest time at or before `now`, and the latest weekly one."""
    local = now.astimezone(PARIS)
    day = local.date() if local.time() >= DIGEST_TIME else local.date() - dt.timedelta(days=1)
    monday = day - dt.timedelta(days=day.weekday())
    daily = dt.datetime.combine(day, DIGEST_TIME, tzinfo=PARIS)
    weekly = dt.datetime.combine(monday, DIGEST_TIME, tzinfo=PARIS)
    return daily.astimezone(dt.UTC), weekly.astimezone(dt.UTC)


def subject(count: int, weekly: bool) -> str:
    period = "de la semaine" if weekly else "du jour"
    plural = "s" if count > 1 else ""
    return f"Coopération : votre récapitulatif {period} ({count} notification{plural})"


async def send_digests(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: NotificationsSettings,
    people: PersonnesClient,
) -> int:
    """Queue the digests due now; how many."""
    now = settings.now()
    daily, weekly = digest_times(now)
    defaults = preferences.default_modes()
    queued, after = 0, None
    while True:
        async with sessionmaker() as session:
            rows = await repo.digest_candidates(
                session, defaults, daily, weekly, after, PERSONS_PER_BATCH
            )
        if not rows:
            return queued
        modes = {item.id: ModeEnvoi(mode) for item, mode in rows}
        readers = await _readers(
            people, (i for i, _ in rows if modes[i.id] is not ModeEnvoi.desactive)
        )
        for personne_id, group in itertools.groupby(rows, key=lambda r: r[0].personne_id):
            ids = [item.id for item, _ in group]
            async with sessionmaker() as session:
                queued += await _digest_of(
                    session, personne_id, {i: modes[i] for i in ids}, readers, daily, settings
                )
                await session.commit()
        after = rows[-1][0].personne_id


async def _readers(
    people: PersonnesClient, items: Iterable[ElementRecapitulatif]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(convention, person) of the items' persons who still read their convention now."""
    wanted: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for item in items:
        if item.convention_id is not None:
            wanted[item.convention_id].add(item.personne_id)
    readers: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for convention_id, persons in wanted.items():
        ordered = sorted(persons)
        for start in range(0, len(ordered), PERSONS_PER_QUERY):
            try:
                found = await people.of_convention(
                    convention_id, personnes=ordered[start : start + PERSONS_PER_QUERY]
                )
            except NotFound:  # a convention the gateway no longer knows: nobody reads it
                break
            readers.update((convention_id, p.id) for p in found)
    return readers


async def _digest_of(
    session: AsyncSession,
    personne_id: uuid.UUID,
    modes: Mapping[uuid.UUID, ModeEnvoi],
    readers: set[tuple[uuid.UUID, uuid.UUID]],
    echeance: dt.datetime,
    settings: NotificationsSettings,
) -> int:
    items = await repo.lock_pending(session, list(modes))  # another run's are skipped
    kept = [
        i
        for i in items
        if modes[i.id] is not ModeEnvoi.desactive
        and (i.convention_id is None or (i.convention_id, personne_id) in readers)
    ]
    await repo.drop_items(session, [i.id for i in items if i not in kept])
    if not kept:
        return 0
    now = settings.now()
    envoi_id = uuid.uuid4()
    weekly = any(modes[i.id] is ModeEnvoi.hebdomadaire for i in kept)
    latest = kept[-1]  # the address and name known last
    sujet = subject(len(kept), weekly)
    values = {
        "id": envoi_id,
        "cree_le": now,
        "personne_id": personne_id,
        "personne_nom": latest.nom,
        "adresse": latest.adresse,
        "famille": None,
        "type": f"recapitulatif.{'hebdomadaire' if weekly else 'quotidien'}",
        "source": SOURCE,
        "evenement_id": envoi_id,
        "echeance": echeance,
        "sujet": sujet,
        "statut": StatutEnvoi.en_attente.value,
        "tentatives": 0,
        "prochain_essai": now,
        "caf_ids": sorted({c for i in kept for c in i.caf_ids}),
        "modele": "recapitulatif",
        "contexte": _context(kept, latest.nom, sujet, weekly, settings),
    }
    if not await repo.add_digest(session, values):
        return 0  # this digest time's was sent already: these wait for the next one
    await repo.attach(session, [i.id for i in kept], envoi_id)
    return 1


def _context(
    items: list[ElementRecapitulatif],
    nom: str | None,
    sujet: str,
    weekly: bool,
    settings: NotificationsSettings,
) -> dict[str, JsonValue]:
    """What the template renders: the items grouped by family (in the enum's order)."""
    familles = [f for f in Famille if any(i.famille == f.value for i in items)]
    groupes: list[JsonValue] = [
        {
            "libelle": FAMILY_LABELS.get(f, f.value),
            "elements": [{"titre": i.titre, "lien": i.lien} for i in items if i.famille == f],
        }
        for f in familles
    ]
    period = "depuis la semaine dernière" if weekly else "depuis hier"
    return {
        "nom": nom,
        "titre": sujet,
        "intro": f"Voici ce qui vous concerne dans Coopération {period}.",
        "groupes": groupes,
        "familles": [f.value for f in familles],
        "famille_libelle": ", ".join(FAMILY_LABELS.get(f, f.value) for f in familles),
        "preferences": f"{settings.app_base_url.rstrip('/')}/preferences",
    }
