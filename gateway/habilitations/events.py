"""The gateway's domain events (kernel.outbox), followed by the notifications service:
an invitation created (its e-mail goes to the invitee, with the acceptance link), an
access request filed, then approved or refused. Who hears of it is resolved when it is
sent (kernel.people_ref), from the organisations the payload names.

The invitation's event carries its token: the acceptance link needs it, and the gateway
keeps only its hash. The event is readable by service tokens only, as the invitations'
former `outbox` was, and the token is worthless once the invitation is accepted,
cancelled or expired.
"""

from __future__ import annotations

import uuid

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.habilitations import repository as repo
from gateway.habilitations.models import DemandeAcces, Invitation, evenements
from kernel.outbox import Outbox
from kernel.principal import OrganisationKind, Principal

OUTBOX = Outbox(evenements, "coop.gateway.evenements")

INVITATION_CREEE = "invitation.creee"
DEMANDE_DEPOSEE = "demande_acces.deposee"
DEMANDE_DECIDEE = "demande_acces.decidee"
PERSONNE_EFFACEE = "personne.effacee"


async def cafs_of(session: AsyncSession, organisation_id: uuid.UUID, kind: str) -> list[JsonValue]:
    """The Cafs concerned by an organisation: itself for a Caf, those of the conventions it
    signs for a collectivité (their agents manage its roles and read its mail log)."""
    if kind == OrganisationKind.caf.value:
        return [str(organisation_id)]
    if kind != OrganisationKind.collectivite.value:
        return []
    return [str(c) for c in await repo.cafs_of_collectivite(session, organisation_id)]


def invitation_payload(
    invitation: Invitation, token: str, invite_par: str | None, caf_ids: list[JsonValue]
) -> dict[str, JsonValue]:
    return {
        "invitation_id": str(invitation.id),
        "email": invitation.email,
        "organisation_id": str(invitation.organisation_id),
        "organisation_type": invitation.organisation_kind,
        "role": invitation.role,
        "expire_le": invitation.expires_at.isoformat(),
        "jeton": token,
        "invite_par": invite_par,
        "caf_ids": caf_ids,
    }


async def invitation_created(
    session: AsyncSession, invitation: Invitation, token: str, principal: Principal
) -> None:
    caf_ids = await cafs_of(session, invitation.organisation_id, invitation.organisation_kind)
    await OUTBOX.record(
        session,
        INVITATION_CREEE,
        invitation_payload(invitation, token, principal.name, caf_ids),
        auteur_id=principal.subject,
    )


async def access_requested(
    session: AsyncSession, demande: DemandeAcces, principal: Principal
) -> None:
    donnees = await _demande_payload(session, demande)
    donnees["personne_nom"] = principal.name
    await OUTBOX.record(session, DEMANDE_DEPOSEE, donnees, auteur_id=principal.subject)


async def access_decided(
    session: AsyncSession, demande: DemandeAcces, principal: Principal
) -> None:
    donnees = await _demande_payload(session, demande)
    donnees |= {"statut": demande.status, "motif": demande.reason, "decide_par": principal.name}
    await OUTBOX.record(session, DEMANDE_DECIDEE, donnees, auteur_id=principal.subject)


async def _demande_payload(session: AsyncSession, demande: DemandeAcces) -> dict[str, JsonValue]:
    """What every event of an access request names: it, its person, its organisation and
    role, and the Cafs whose agents may approve it."""
    return {
        "demande_id": str(demande.id),
        "personne_id": str(demande.person_id),
        "organisation_id": str(demande.organisation_id),
        "role": demande.role,
        "caf_ids": await cafs_of(session, demande.organisation_id, OrganisationKind.collectivite),
    }


async def persons_erased(session: AsyncSession, personne_ids: list[uuid.UUID]) -> None:
    """Persons gone for a year (retention.py): the other services forget what they keep
    about them (the notifications' preferences and pending digest items)."""
    await OUTBOX.record(session, PERSONNE_EFFACEE, {"personne_ids": [str(p) for p in personne_ids]})
