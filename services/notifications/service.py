"""The notifications' rules: acting on the feeds' events once, the in-app notifications
of a person, the e-mails' sending with retries, the Caf administrators' delivery log.

Following a feed (`follow`): at least once, acting at most once. Each event is acted on
in its own transaction which claims (source, event id) first (a feed read twice acts
once) and moves the feed's cursor; recipients are resolved before, from the gateway's
grants of that moment (kernel.people_ref): a gateway that does not answer stops the run
before the event, which the next run reads again.
Each recipient's e-mail follows their preference for the family (preferences.py): sent
now, held for their digest (digests.py), or none; the in-app notification always.

Sending (`send_due`): each message in its own transaction, locked while it is sent
(`SKIP LOCKED`: two senders never send one message). SMTP refused or unreachable: the
message waits `retry_base_seconds` × 2^(tries-1), and after `send_max_attempts` tries
is marked "échec" with the last reason. Time is `settings.now()` (tests move it).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib
from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.errors import NotFound
from kernel.outbox import Evenement, OutboxClient
from kernel.pagination import keyset_page
from kernel.people_ref import PersonneContact, PersonnesClient
from kernel.principal import OrganisationKind, Principal, Role
from services.notifications import mailer, preferences
from services.notifications import repository as repo
from services.notifications.messages import MESSAGES, PERSONNE_EFFACEE, Content, erased_persons
from services.notifications.models import (
    ElementRecapitulatif,
    Envoi,
    Famille,
    ModeEnvoi,
    Notification,
    StatutEnvoi,
)
from services.notifications.settings import NotificationsSettings

_log = logging.getLogger("coop.notifications")

FAMILY_LABELS = {
    Famille.suivis: "suivis trimestriels",
    Famille.habilitations: "habilitations et demandes d'accès",
    Famille.invitations: "invitations",
    Famille.discussions: "discussions des actions (commentaires, mentions)",
    Famille.bilans: "bilans (adoption, accords pour la CDSF)",
    Famille.rappels: "rappels de campagne",
}
# At most this many messages per run of the sender (the next run takes the rest).
SEND_BATCH = 200


# --- following the feeds ----------------------------------------------------------------------


async def follow(
    sessionmaker: async_sessionmaker[AsyncSession],
    feed: OutboxClient,
    people: PersonnesClient,
    settings: NotificationsSettings,
) -> int:
    """Read the source's feed from its cursor to its end; act on each event once. How
    many events were acted on."""
    async with sessionmaker() as session:
        after = await repo.cursor(session, feed.source)
    acted = 0
    while True:
        events = await feed.after(after)
        if not events:
            return acted
        for event in events:
            recipients, content = await _resolve(event, people, settings)
            async with sessionmaker() as session:
                if await repo.claim(session, feed.source, event.id):
                    await _act(session, feed.source, event, recipients, content, settings)
                    acted += 1
                await repo.set_cursor(session, feed.source, event.seq)
                await session.commit()
            after = event.seq


async def _resolve(
    event: Evenement, people: PersonnesClient, settings: NotificationsSettings
) -> tuple[list[PersonneContact], Content | None]:
    message = MESSAGES.get(event.type)
    if message is None:  # an event nobody is told of (yet)
        return [], None
    recipients = await message.recipients(people, event)
    # Whoever acted is not told of their own act.
    recipients = [r for r in recipients if str(r.id) != event.auteur_id]
    return recipients, message.content(event, settings.app_base_url.rstrip("/"))


def _caf_ids(event: Evenement) -> list[uuid.UUID]:
    one = event.donnees.get("caf_id")
    many = event.donnees.get("caf_ids")
    ids = [one] if isinstance(one, str) else many if isinstance(many, list) else []
    return [uuid.UUID(str(i)) for i in ids]


async def _act(
    session: AsyncSession,
    source: str,
    event: Evenement,
    recipients: list[PersonneContact],
    content: Content | None,
    settings: NotificationsSettings,
) -> None:
    if event.type == PERSONNE_EFFACEE:
        await preferences.erase(session, erased_persons(event))
        return
    if content is None:
        return
    famille = MESSAGES[event.type].famille
    now = settings.now()
    envoi = EnvoiFactory(
        source,
        event.type,
        event.id,
        event.le,
        event.convention_id,
        famille,
        content,
        _caf_ids(event),
        now,
    )
    if event.type == "invitation.creee":
        adresse = event.donnees.get("email")
        if isinstance(adresse, str):
            await repo.add(session, envoi.make(None, adresse, None, "invitation"))
        return
    modes = await preferences.modes_for(session, [r.id for r in recipients], famille)
    addressed: set[str] = set()  # two accounts may share an address: one message
    for r in recipients:
        mode, email = modes[r.id], r.email
        if email and mode is ModeEnvoi.immediat:
            if email.lower() in addressed:
                email = None
            else:
                addressed.add(email.lower())
        await repo.add(session, *records_for_person(envoi, r.id, r.nom, email, mode))


def records_for_person(
    envoi: EnvoiFactory,
    personne_id: uuid.UUID,
    nom: str | None,
    email: str | None,
    mode: ModeEnvoi,
    modele: str = "notification",
) -> list[Notification | Envoi | ElementRecapitulatif]:
    """What one person is told of one event (or grouped message): the in-app
    notification always; by e-mail, as their mode for the family says (now, held for
    their digest, or not), when they have a verified `email`. Rows to add: a batch of
    persons is written in one flush."""
    content = envoi.content
    rows: list[Notification | Envoi | ElementRecapitulatif] = [
        Notification(
            id=uuid.uuid4(),
            personne_id=personne_id,
            famille=envoi.famille.value,
            type=envoi.type,
            titre=content.titre,
            texte=content.texte,
            lien=content.lien,
            convention_id=envoi.convention_id,
            source=envoi.source,
            evenement_id=envoi.evenement_id,
            cree_le=envoi.le,
        )
    ]
    if not email or mode is ModeEnvoi.desactive:
        return rows
    if mode in preferences.DIGEST_MODES:  # held for the digest (digests.py)
        rows.append(envoi.held(personne_id, email, nom))
    else:
        rows.append(envoi.make(personne_id, email, nom, modele))
    return rows


@dataclass(frozen=True)
class EnvoiFactory:
    """One event's (or grouped message's) e-mails, one per address."""

    source: str
    type: str
    evenement_id: uuid.UUID
    # When it happened (the in-app notification's date).
    le: dt.datetime
    convention_id: uuid.UUID | None
    famille: Famille
    content: Content
    caf_ids: list[uuid.UUID]
    now: dt.datetime
    # More for the template than the title, text and link (a grouped message's list).
    extra: dict[str, JsonValue] | None = None

    def make(
        self, personne_id: uuid.UUID | None, adresse: str, nom: str | None, modele: str
    ) -> Envoi:
        contexte: dict[str, JsonValue] = {
            "nom": nom,
            "titre": self.content.titre,
            "texte": self.content.texte_email,
            "lien": self.content.lien,
            "famille": self.famille.value,
            "famille_libelle": FAMILY_LABELS[self.famille],
            **(self.extra or {}),
        }
        return Envoi(
            id=uuid.uuid4(),
            cree_le=self.now,
            personne_id=personne_id,
            personne_nom=nom,
            adresse=adresse.lower(),
            famille=self.famille.value,
            type=self.type,
            source=self.source,
            evenement_id=self.evenement_id,
            sujet=self.content.titre,
            statut=StatutEnvoi.en_attente.value,
            tentatives=0,
            prochain_essai=self.now,
            caf_ids=self.caf_ids,
            modele=modele,
            contexte=contexte,
        )

    def held(self, personne_id: uuid.UUID, adresse: str, nom: str | None) -> ElementRecapitulatif:
        """The e-mail as an item waiting for the person's digest."""
        return ElementRecapitulatif(
            id=uuid.uuid4(),
            personne_id=personne_id,
            adresse=adresse.lower(),
            nom=nom,
            famille=self.famille.value,
            type=self.type,
            source=self.source,
            evenement_id=self.evenement_id,
            titre=self.content.titre,
            lien=self.content.lien,
            convention_id=self.convention_id,
            caf_ids=self.caf_ids,
            cree_le=self.now,
        )


# --- sending ------------------------------------------------------------------------------------


def unsubscribe_url(
    settings: NotificationsSettings,
    personne_id: uuid.UUID,
    familles: Famille | Sequence[Famille],
) -> str:
    token = mailer.unsubscribe_token(
        settings.unsubscribe_secret.get_secret_value(), personne_id, familles
    )
    return f"{settings.api_base_url.rstrip('/')}/desabonnement/{token}"


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession], settings: NotificationsSettings
) -> int:
    """Send the messages due now; how many were sent."""
    sent = 0
    for _ in range(SEND_BATCH):
        now = settings.now()
        async with sessionmaker() as session:
            envoi = await repo.next_due(session, now)
            if envoi is None:
                return sent
            sent += await _send_one(session, envoi, settings, now)
            await session.commit()
    return sent


async def _send_one(
    session: AsyncSession, envoi: Envoi, settings: NotificationsSettings, now: dt.datetime
) -> int:
    contexte = dict(envoi.contexte or {})
    familles = _families_of(envoi)
    link = (
        unsubscribe_url(settings, envoi.personne_id, familles)
        if envoi.personne_id is not None and familles
        else None
    )
    msg = mailer.build(settings, envoi.id, envoi.adresse, envoi.sujet, envoi.modele, contexte, link)
    envoi.tentatives += 1
    try:
        await mailer.send(settings, msg)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        envoi.raison = f"{type(exc).__name__} : {exc}"[:2000]
        if envoi.tentatives >= settings.send_max_attempts:
            envoi.statut = StatutEnvoi.echec.value
            envoi.contexte = None
            _log.warning("e-mail %s failed for good after %d tries", envoi.id, envoi.tentatives)
        else:
            wait = settings.retry_base_seconds * 2 ** (envoi.tentatives - 1)
            envoi.prochain_essai = now + dt.timedelta(seconds=wait)
        await session.flush()
        return 0
    envoi.statut = StatutEnvoi.envoye.value
    envoi.envoye_le = now
    envoi.raison = None
    envoi.contexte = None
    await session.flush()
    return 1


def _families_of(envoi: Envoi) -> list[Famille]:
    """An event's family; a digest's, those it groups (its context names them)."""
    if envoi.famille is not None:
        return [Famille(envoi.famille)]
    named = (envoi.contexte or {}).get("familles")
    return [Famille(str(f)) for f in named] if isinstance(named, list) else []


# --- in the app -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    items: Sequence[Notification]
    next_cursor: str | None
    sync_token: int
    non_lues: int


async def my_notifications(
    session: AsyncSession,
    principal: Principal,
    limit: int,
    cursor: str | None,
    since: int | None,
) -> Listing:
    me = principal.person_id
    if me is None:
        return Listing([], None, since or 0, 0)
    # The token first: a notification committed meanwhile comes with the next sync.
    token = await repo.last_seq(session, me)
    unread = await repo.unread_count(session, me)
    if since is not None:
        items = await repo.changed_since(session, me, since, limit)
        if len(items) == limit:
            token = items[-1].seq
        return Listing(items, None, max(token, since) if len(items) < limit else token, unread)
    rows, next_cursor = keyset_page(
        await repo.page(session, me, limit, cursor), limit, lambda n: (n.cree_le, n.id)
    )
    return Listing(rows, next_cursor, token, unread)


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> Notification:
    """One of the caller's notifications, read (404 for anyone else's)."""
    me = principal.person_id
    if me is None:
        raise NotFound("Notification introuvable.")
    await repo.mark_read(session, me, notification_id)
    found = await repo.notification_of(session, me, notification_id)
    if found is None:
        raise NotFound("Notification introuvable.")
    await session.refresh(found)
    return found


async def mark_all_read(session: AsyncSession, principal: Principal) -> int:
    me = principal.person_id
    if me is None:
        return 0
    return len(await repo.mark_read(session, me, None))


async def unsubscribe(
    session: AsyncSession, settings: NotificationsSettings, token: str
) -> list[Famille]:
    """The one-click link: its families set to "désactivé" for its person."""
    personne_id, familles = mailer.read_unsubscribe_token(
        settings.unsubscribe_secret.get_secret_value(), token
    )
    await preferences.switch_off(session, personne_id, familles)
    return familles


# --- the delivery log -----------------------------------------------------------------------------


def administered_cafs(principal: Principal) -> list[uuid.UUID]:
    return [
        g.organisation_id
        for g in principal.grants
        if g.role is Role.administrateur and g.organisation_kind is OrganisationKind.caf
    ]


async def delivery_log(
    session: AsyncSession,
    principal: Principal,
    limit: int,
    cursor: str | None,
    statut: StatutEnvoi | None,
) -> tuple[Sequence[Envoi], str | None]:
    rows = await repo.delivery_log(
        session, administered_cafs(principal), limit, cursor, statut.value if statut else None
    )
    return keyset_page(rows, limit, lambda e: (e.cree_le, e.id))
