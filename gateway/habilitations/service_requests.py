"""Invitations and access requests: the two ways a person comes to hold a grant.

An invitation is sent by someone who may grant the role (its token goes to the invited
address); an access request is made by the person and decided by someone who may grant
it. Either way the grant itself is made by `service.create_grant`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.habilitations import events
from gateway.habilitations import repository as repo
from gateway.habilitations.models import (
    DemandeAcces,
    Habilitation,
    Invitation,
    StatutDemande,
    StatutInvitation,
)
from gateway.habilitations.resolver import DbGrantResolver
from gateway.habilitations.service import (
    CLI_ACTOR,
    COLLECTIVITE_ROLES,
    Actor,
    Authority,
    actor_of,
    create_grant,
)
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.principal import OrganisationKind, Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- invitations ----------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


async def invite(
    session: AsyncSession,
    auth: Authority,
    *,
    email: str,
    organisation_id: uuid.UUID,
    role: Role,
    days: int,
) -> NewInvitation:
    kind = auth.kind_of(organisation_id, role)
    auth.require_manage(organisation_id, kind, role)
    token = secrets.token_urlsafe(32)
    now = await repo.db_now(session)
    address = email.strip().lower()
    invitation = Invitation(
        id=uuid.uuid4(),
        email=address,
        organisation_id=organisation_id,
        organisation_kind=kind.value,
        role=role.value,
        token_hash=hash_token(token),
        expires_at=now + dt.timedelta(days=days),
        status=StatutInvitation.en_attente.value,
        created_by=auth.principal.person_id,
        version=1,
    )
    await repo.add(session, invitation)
    # The notifications service e-mails the invitee the acceptance link (events.py).
    await events.invitation_created(session, invitation, token, auth.principal)
    await session.flush()
    await session.refresh(invitation)
    return NewInvitation(invitation, token)


async def list_invitations(
    session: AsyncSession,
    auth: Authority,
    limit: int,
    cursor: str | None,
    organisation_id: uuid.UUID | None,
) -> list[repo.InvitationRow]:
    """The invitations of the organisations the caller manages."""
    return await repo.list_invitations(
        session, auth.manager_visibility(), limit, cursor, organisation_id
    )


async def visible_invitation(
    session: AsyncSession, auth: Authority, invitation_id: uuid.UUID
) -> repo.InvitationRow:
    """An invitation the caller's list shows (those of the organisations it manages),
    with its names; 404 otherwise."""
    row = await repo.visible_invitation_row(session, invitation_id, auth.manager_visibility())
    if row is None:
        raise NotFound("Invitation introuvable.")
    return row


async def accept_invitation(
    session: AsyncSession,
    auth: Authority,
    *,
    token: str,
    email: str | None,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    person_id = auth.principal.person_id
    if person_id is None:
        raise Forbidden("Seule une personne peut accepter une invitation.")
    invitation = await repo.invitation_by_token_hash(session, hash_token(token))
    # Unknown, or addressed to someone else: same answer, nothing is revealed.
    if invitation is None or email is None or email.strip().lower() != invitation.email:
        raise NotFound("Invitation introuvable pour votre adresse électronique.")
    if invitation.status != StatutInvitation.en_attente.value:
        raise Conflict(f"Invitation déjà {invitation.status}.")
    now = await repo.db_now(session)
    if invitation.expires_at <= now:
        raise Conflict("Invitation expirée : demandez-en une nouvelle.")
    inviter = Actor(
        invitation.created_by,
        await repo.person_label(session, invitation.created_by) or CLI_ACTOR,
    )
    grant = await create_grant(
        session,
        organisation_id=invitation.organisation_id,
        kind=OrganisationKind(invitation.organisation_kind),
        role=Role(invitation.role),
        actor=inviter,
        person_id=person_id,
        default_days=default_days,
        reason=f"invitation {invitation.id} acceptée",
        resolver=resolver,
    )
    invitation.status = StatutInvitation.acceptee.value
    invitation.accepted_by = person_id
    invitation.accepted_at = now
    invitation.grant_id = grant.id
    invitation.version += 1
    await session.flush()
    return grant


async def known_invitation(
    session: AsyncSession, auth: Authority, invitation_id: uuid.UUID
) -> Invitation:
    """An invitation on an organisation the caller knows (404 otherwise)."""
    invitation = await repo.invitation_by_id(session, invitation_id)
    if invitation is None or not auth.knows(
        invitation.organisation_id, OrganisationKind(invitation.organisation_kind)
    ):
        raise NotFound("Invitation introuvable.")
    return invitation


async def cancel_invitation(
    session: AsyncSession, auth: Authority, invitation_id: uuid.UUID
) -> Invitation:
    invitation = await known_invitation(session, auth, invitation_id)
    kind = OrganisationKind(invitation.organisation_kind)
    auth.require_manage(invitation.organisation_id, kind, Role(invitation.role))
    if invitation.status != StatutInvitation.en_attente.value:
        raise Conflict(f"Invitation déjà {invitation.status}.")
    invitation.status = StatutInvitation.annulee.value
    invitation.version += 1
    await session.flush()
    return invitation


# --- access requests -------------------------------------------------------------------


async def request_access(
    session: AsyncSession,
    auth: Authority,
    *,
    organisation_id: uuid.UUID,
    role: Role,
    message: str | None,
) -> DemandeAcces:
    person_id = auth.principal.person_id
    if person_id is None:
        raise Forbidden("Seule une personne peut demander un accès.")
    if role not in COLLECTIVITE_ROLES:
        raise InvalidPayload(
            "Un accès se demande sur une collectivité : lecteur, contributeur ou referent."
        )
    if not await repo.is_signatory_collectivite(session, organisation_id):
        raise NotFound("Collectivité introuvable parmi les signataires des conventions.")
    if organisation_id in {g.organisation_id for g in auth.principal.grants}:
        raise Conflict("Vous avez déjà une habilitation sur cette collectivité.")
    if await repo.pending_demande(session, person_id, organisation_id) is not None:
        raise Conflict("Une demande est déjà en attente pour cette collectivité.")
    demande = DemandeAcces(
        id=uuid.uuid4(),
        person_id=person_id,
        organisation_id=organisation_id,
        role=role.value,
        message=message,
        status=StatutDemande.en_attente.value,
        version=1,
    )
    try:
        async with session.begin_nested():
            await repo.add(session, demande)
    except IntegrityError as exc:
        raise Conflict("Une demande est déjà en attente pour cette collectivité.") from exc
    await session.refresh(demande)
    await events.access_requested(session, demande, auth.principal)
    return demande


async def list_demandes(
    session: AsyncSession,
    auth: Authority,
    limit: int,
    cursor: str | None,
    statut: StatutDemande | None,
    organisation_id: uuid.UUID | None,
) -> list[repo.DemandeRow]:
    """One's own requests and those on the organisations one sees, with the asker."""
    return await repo.list_demandes(
        session,
        auth.visibility(),
        limit,
        cursor,
        statut.value if statut else None,
        organisation_id,
    )


async def visible_demande(
    session: AsyncSession, auth: Authority, demande_id: uuid.UUID
) -> repo.DemandeRow:
    """A request the caller sees, with the asker (404 otherwise)."""
    row = await repo.demande_row(session, demande_id, auth.visibility())
    if row is None:
        raise NotFound("Demande introuvable.")
    return row


async def known_demande(
    session: AsyncSession, auth: Authority, demande_id: uuid.UUID
) -> DemandeAcces:
    """A request, locked, that is the caller's own or on a collectivité it knows (404
    otherwise)."""
    demande = await repo.demande_for_update(session, demande_id)
    if demande is None or (
        demande.person_id != auth.principal.person_id
        and not auth.knows(demande.organisation_id, OrganisationKind.collectivite)
    ):
        raise NotFound("Demande introuvable.")
    return demande


async def decidable_demande(
    session: AsyncSession, auth: Authority, demande_id: uuid.UUID, preconditions: Preconditions
) -> DemandeAcces:
    """The request, locked, if the caller may decide it (404 unseen, 403 not allowed,
    409 decided already) and the request's preconditions hold on its version."""
    demande = await known_demande(session, auth, demande_id)
    kind = OrganisationKind.collectivite
    if demande.person_id == auth.principal.person_id:
        raise Forbidden("Vous ne pouvez pas décider de votre propre demande.")
    auth.require_manage(demande.organisation_id, kind, Role(demande.role))
    if demande.status != StatutDemande.en_attente.value:
        raise Conflict(f"Demande déjà {demande.status}.")
    preconditions.check(etag_for(demande.id, demande.version))
    return demande


async def approve(
    session: AsyncSession,
    auth: Authority,
    demande_id: uuid.UUID,
    preconditions: Preconditions,
    *,
    reason: str | None,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    demande = await decidable_demande(session, auth, demande_id, preconditions)
    grant = await create_grant(
        session,
        organisation_id=demande.organisation_id,
        kind=OrganisationKind.collectivite,
        role=Role(demande.role),
        actor=actor_of(auth),
        person_id=demande.person_id,
        default_days=default_days,
        reason=reason or f"demande d'accès {demande.id} approuvée",
        resolver=resolver,
    )
    demande.grant_id = grant.id
    # The grant starts now (this transaction's clock): the decision is of that instant.
    await _decide(session, auth, demande, StatutDemande.approuvee, reason, grant.valid_from)
    return grant


async def refuse(
    session: AsyncSession,
    auth: Authority,
    demande_id: uuid.UUID,
    preconditions: Preconditions,
    *,
    reason: str,
) -> repo.DemandeRow:
    """The request refused, with its asker, as the answer shows it."""
    demande = await decidable_demande(session, auth, demande_id, preconditions)
    await _decide(session, auth, demande, StatutDemande.refusee, reason, await repo.db_now(session))
    return await visible_demande(session, auth, demande_id)


async def _decide(
    session: AsyncSession,
    auth: Authority,
    demande: DemandeAcces,
    status: StatutDemande,
    reason: str | None,
    at: dt.datetime,
) -> None:
    demande.status = status.value
    demande.decided_by = auth.principal.person_id
    demande.decided_at = at
    demande.reason = reason
    demande.version += 1
    await session.flush()
    await events.access_decided(session, demande, auth.principal)
