"""What each followed event says, and to whom: one `Message` per event type.

Recipients are resolved when the event is acted on (kernel.people_ref, from the
gateway's grants of that moment): someone whose grant was revoked, or who cannot read
the convention, hears nothing. The author of the change is not told of it. The e-mail
says as little as it can (titles and a link, never a suivi's narrative): a send-back's
comment and a refusal's reason are shown in the app only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kernel.outbox import Evenement
from kernel.people_ref import PersonneContact, PersonneRef, PersonnesClient
from kernel.principal import OrganisationKind, Role
from services.notifications.models import Famille

PARIS = ZoneInfo("Europe/Paris")
ACTIONS = "actions"
GATEWAY = "gateway"
# The feeds followed, in the order they are read.
SOURCES = (GATEWAY, ACTIONS)

CAF_AGENTS = (Role.agent, Role.administrateur)
PORTEUR_WRITERS = (Role.contributeur, Role.referent)
ROLE_LABELS = {
    "lecteur": "lecteur",
    "contributeur": "contributeur",
    "referent": "référent",
    "agent": "agent",
    "administrateur": "administrateur",
}


@dataclass(frozen=True)
class Content:
    """One notification: its title, its in-app text, its e-mail text (less), its link."""

    titre: str
    texte: str
    texte_email: str
    lien: str


@dataclass(frozen=True)
class Message:
    famille: Famille
    # Who hears of it (persons, with their verified address if any).
    recipients: Callable[[PersonnesClient, Evenement], Awaitable[list[PersonneContact]]]
    content: Callable[[Evenement, str], Content]


def _s(event: Evenement, key: str) -> str:
    value = event.donnees.get(key)
    return "" if value is None else str(value)


def _ids(event: Evenement, key: str) -> list[uuid.UUID]:
    value = event.donnees.get(key)
    return [uuid.UUID(str(v)) for v in value] if isinstance(value, list) else []


def _id(event: Evenement, key: str) -> uuid.UUID:
    return uuid.UUID(_s(event, key))


def _contacts(people: Sequence[PersonneRef | PersonneContact]) -> list[PersonneContact]:
    """Once per person (a person may hold several grants on a convention)."""
    seen: dict[uuid.UUID, PersonneContact] = {}
    for p in people:
        seen.setdefault(p.id, PersonneContact(id=p.id, nom=p.nom, email=p.email))
    return list(seen.values())


async def _caf_agents_of_convention(
    people: PersonnesClient, event: Evenement
) -> list[PersonneContact]:
    assert event.convention_id is not None
    found = await people.of_convention(
        event.convention_id, organisations=[_id(event, "caf_id")], roles=CAF_AGENTS
    )
    return _contacts(found)


async def _porteurs_of_action(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    assert event.convention_id is not None
    porteurs = _ids(event, "porteur_ids")
    if not porteurs:
        return []
    found = await people.of_convention(
        event.convention_id, organisations=porteurs, roles=PORTEUR_WRITERS
    )
    return _contacts(found)


async def _deciders(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    """Who may approve an access request: the collectivité's referents (for lecteur and
    contributeur), the agents of the Cafs whose conventions it signs."""
    found: list[PersonneRef] = []
    if _s(event, "role") != Role.referent.value:
        found += await people.of_organisations([_id(event, "organisation_id")], [Role.referent])
    found += await people.of_organisations(_ids(event, "caf_ids"), CAF_AGENTS)
    return _contacts(found)


async def _requester(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    return [await people.contact(_id(event, "personne_id"))]


async def _readers_among(
    people: PersonnesClient, event: Evenement, key: str
) -> list[PersonneContact]:
    """The persons the event names under `key` who still read the convention now (an
    empty filter would mean everyone: no one named, no one told)."""
    assert event.convention_id is not None
    named = _ids(event, key)
    if not named:
        return []
    return _contacts(await people.of_convention(event.convention_id, personnes=named))


async def _participants(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    return await _readers_among(people, event, "participant_ids")


async def _mentioned(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    return await _readers_among(people, event, "personne_ids")


async def _nobody(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    return []


def _suivi_link(event: Evenement, app: str) -> str:
    return f"{app}/actions/{_s(event, 'action_id')}/suivis/{_s(event, 'periode')}"


def _suivi_soumis(event: Evenement, app: str) -> Content:
    action, periode = _s(event, "action_titre"), _s(event, "periode")
    texte = (
        f"{_s(event, 'auteur_nom') or 'Un contributeur'} a soumis le suivi {periode} de "
        f"l'action « {action} » ({_s(event, 'convention_titre')}). Il attend la validation "
        "de la Caf."
    )
    return Content(f"Suivi {periode} soumis : {action}", texte, texte, _suivi_link(event, app))


def _suivi_a_completer(event: Evenement, app: str) -> Content:
    action, periode = _s(event, "action_titre"), _s(event, "periode")
    texte = (
        f"La Caf a renvoyé le suivi {periode} de l'action « {action} » "
        f"({_s(event, 'convention_titre')}) : il est à compléter."
    )
    commentaire = _s(event, "commentaire")
    return Content(
        f"Suivi {periode} à compléter : {action}",
        f"{texte}\nCommentaire : {commentaire}" if commentaire else texte,
        f"{texte} Le commentaire de la Caf est dans l'application.",
        _suivi_link(event, app),
    )


def _suivi_valide(event: Evenement, app: str) -> Content:
    action, periode = _s(event, "action_titre"), _s(event, "periode")
    texte = (
        f"La Caf a validé le suivi {periode} de l'action « {action} » "
        f"({_s(event, 'convention_titre')})."
    )
    return Content(f"Suivi {periode} validé : {action}", texte, texte, _suivi_link(event, app))


def _commentaire_link(event: Evenement, app: str) -> str:
    """The thread (its route), at the comment."""
    periode = _s(event, "periode")
    thread = f"suivis/{periode}/commentaires" if periode else "commentaires"
    return (
        f"{app}/actions/{_s(event, 'action_id')}/{thread}#commentaire-{_s(event, 'commentaire_id')}"
    )


def _where(event: Evenement) -> str:
    """The thread a comment is in: an action's, or one of its suivis'."""
    periode, action = _s(event, "periode"), _s(event, "action_titre")
    lieu = f"le suivi {periode} de l'action « {action} »" if periode else f"l'action « {action} »"
    return f"{lieu} ({_s(event, 'convention_titre')})"


# A comment's text is never in a notification: it may be corrected or deleted, and the
# link shows it as it is then.
def _commentaire_publie(event: Evenement, app: str) -> Content:
    texte = (
        f"{_s(event, 'auteur_nom') or 'Une personne'} a commenté {_where(event)}, "
        "une discussion à laquelle vous participez."
    )
    titre = f"Nouveau commentaire : {_s(event, 'action_titre')}"
    return Content(titre, texte, texte, _commentaire_link(event, app))


def _commentaire_mention(event: Evenement, app: str) -> Content:
    texte = (
        f"{_s(event, 'auteur_nom') or 'Une personne'} vous a mentionné(e) dans un "
        f"commentaire sur {_where(event)}."
    )
    titre = f"Vous êtes mentionné(e) : {_s(event, 'action_titre')}"
    return Content(titre, texte, texte, _commentaire_link(event, app))


def _demande_deposee(event: Evenement, app: str) -> Content:
    role = ROLE_LABELS.get(_s(event, "role"), _s(event, "role"))
    texte = (
        f"{_s(event, 'personne_nom') or 'Une personne'} demande le rôle {role} sur une "
        "collectivité dont vous gérez les habilitations."
    )
    return Content(
        "Demande d'accès à examiner",
        texte,
        texte,
        f"{app}/demandes-acces/{_s(event, 'demande_id')}",
    )


def _demande_decidee(event: Evenement, app: str) -> Content:
    role = ROLE_LABELS.get(_s(event, "role"), _s(event, "role"))
    statut = _s(event, "statut")
    texte = f"Votre demande du rôle {role} a été {statut}."
    motif = _s(event, "motif")
    return Content(
        f"Demande d'accès {statut}",
        f"{texte}\nMotif : {motif}" if motif else texte,
        texte,
        f"{app}/demandes-acces/{_s(event, 'demande_id')}",
    )


def invitation_content(event: Evenement, app: str) -> Content:
    role = ROLE_LABELS.get(_s(event, "role"), _s(event, "role"))
    par = _s(event, "invite_par")
    texte = (
        f"{par + ' vous invite' if par else 'Vous êtes invité(e)'} à rejoindre Coopération, "
        f"l'outil de suivi des Conventions Territoriales Globales, avec le rôle {role}. "
        f"L'invitation est valable jusqu'au {_s(event, 'expire_le')[:10]}."
    )
    return Content(
        "Invitation à rejoindre Coopération",
        texte,
        texte,
        f"{app}/invitations/acceptation?jeton={_s(event, 'jeton')}",
    )


# The gateway erased persons gone for a year (gateway/habilitations/retention.py): no
# message; their preferences and pending digest items go (service._act).
PERSONNE_EFFACEE = "personne.effacee"


def erased_persons(event: Evenement) -> list[uuid.UUID]:
    return _ids(event, "personne_ids")


# --- bilans (services/actions/service_bilans.py, service_cdsf.py) -------------------------


async def _people_of_convention(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    """The Caf's agents and every signatory collectivité's people who read it now."""
    assert event.convention_id is not None
    found = await people.of_convention(event.convention_id)
    return _contacts(
        [
            p
            for p in found
            if p.organisation_type is OrganisationKind.collectivite or p.role in CAF_AGENTS
        ]
    )


async def _referents_to_agree(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    """The referents of the collectivités named (those that have not agreed yet)."""
    assert event.convention_id is not None
    named = _ids(event, "collectivite_ids")
    if not named:
        return []
    found = await people.of_convention(
        event.convention_id, organisations=named, roles=[Role.referent]
    )
    return _contacts(found)


def _bilan_link(event: Evenement, app: str) -> str:
    return f"{app}/bilans/{_s(event, 'bilan_id')}"


def _bilan_nom(event: Evenement) -> str:
    debut, fin = _s(event, "periode_debut")[:4], _s(event, "periode_fin")[:4]
    annees = debut if debut == fin else f"{debut}-{fin}"
    return f"{_s(event, 'bilan_type')} {annees}"


def _date_fr(value: str) -> str:
    """An ISO date or instant as a French reader writes it (the day in Paris)."""
    if "T" in value:
        day = dt.datetime.fromisoformat(value).astimezone(PARIS).date()
    else:
        day = dt.date.fromisoformat(value[:10])
    return day.strftime("%d/%m/%Y")


def _bilan_adopte(event: Evenement, app: str) -> Content:
    bilan, convention = _bilan_nom(event), _s(event, "convention_titre")
    texte = (
        f"Le COPIL a adopté le {bilan} de la convention « {convention} » le "
        f"{_date_fr(_s(event, 'date_adoption'))}."
    )
    return Content(f"Bilan adopté : {convention}", texte, texte, _bilan_link(event, app))


def _accord_cdsf(event: Evenement, app: str) -> Content:
    bilan, convention = _bilan_nom(event), _s(event, "convention_titre")
    texte = (
        "La Caf demande l'accord exprès de votre collectivité pour transmettre au CDSF "
        f"la partie petite enfance du {bilan} de la convention « {convention} ». Donnez-le "
        "depuis le bilan."
    )
    if event.type == "bilan.accord_cdsf_rappel":
        titre = f"Rappel : votre accord pour la CDSF est attendu ({convention})"
    else:
        titre = f"Accord demandé pour la CDSF : {convention}"
    return Content(titre, texte, texte, _bilan_link(event, app))


# --- grants about to end (gateway/habilitations/expiry.py) --------------------------------


async def _holder_and_managers(people: PersonnesClient, event: Evenement) -> list[PersonneContact]:
    """The grant's holder, and whoever may renew it (the groups the gateway named:
    `service.managers_of`) who hold that right now. A person's grant revoked meanwhile
    is no longer about to end: nobody hears of it."""
    found: list[PersonneRef] = []
    holder = _s(event, "personne_id")
    if holder:
        role = Role(_s(event, "role"))
        holders = await people.of_organisations([_id(event, "organisation_id")], [role])
        found += [p for p in holders if str(p.id) == holder]
        if not found:
            return []
    groups = event.donnees.get("gestionnaires")
    for group in groups if isinstance(groups, list) else []:
        roles = group.get("roles") if isinstance(group, dict) else None
        if isinstance(group, dict) and isinstance(roles, list):
            found += await people.of_organisations(
                [uuid.UUID(str(group["organisation_id"]))], [Role(str(r)) for r in roles]
            )
    return _contacts(found)


def _expire_bientot(event: Evenement, app: str) -> Content:
    role = ROLE_LABELS.get(_s(event, "role"), _s(event, "role"))
    fin = _date_fr(_s(event, "fin"))
    jours = "7" if _s(event, "etape") == "J-7" else "30"
    titulaire = _s(event, "titulaire_nom") or "son titulaire"
    organisation = _s(event, "organisation_nom")
    sur = f" sur « {organisation} »" if organisation else ""
    texte = (
        f"L'habilitation {role} de {titulaire}{sur} prend fin le {fin} (dans {jours} jours "
        "au plus). Sans renouvellement, cet accès cessera à cette date ; son titulaire ne "
        "peut pas la renouveler lui-même."
    )
    return Content(
        f"Habilitation {role} : fin le {fin}",
        texte,
        texte,
        f"{app}/habilitations/{_s(event, 'habilitation_id')}",
    )


MESSAGES: dict[str, Message] = {
    "suivi.soumis": Message(Famille.suivis, _caf_agents_of_convention, _suivi_soumis),
    "suivi.a_completer": Message(Famille.suivis, _porteurs_of_action, _suivi_a_completer),
    "suivi.valide": Message(Famille.suivis, _porteurs_of_action, _suivi_valide),
    "demande_acces.deposee": Message(Famille.habilitations, _deciders, _demande_deposee),
    "demande_acces.decidee": Message(Famille.habilitations, _requester, _demande_decidee),
    "commentaire.publie": Message(Famille.discussions, _participants, _commentaire_publie),
    "commentaire.mention": Message(Famille.discussions, _mentioned, _commentaire_mention),
    "bilan.adopte": Message(Famille.bilans, _people_of_convention, _bilan_adopte),
    "bilan.accord_cdsf_demande": Message(Famille.bilans, _referents_to_agree, _accord_cdsf),
    "bilan.accord_cdsf_rappel": Message(Famille.bilans, _referents_to_agree, _accord_cdsf),
    "habilitation.expire_bientot": Message(
        Famille.habilitations, _holder_and_managers, _expire_bientot
    ),
    # To an address, not a person: no in-app notification (see service.act_on).
    "invitation.creee": Message(Famille.invitations, _nobody, invitation_content),
}
