"""Habilitation rules: who may grant what, and the life of a grant.

Rights (roles table of DOMAIN.md):
- a collectivité `referent` manages `lecteur`/`contributeur` on its own collectivité;
- a Caf `agent` (or `administrateur`) manages every collectivité role on the
  collectivités that sign a convention of its Caf;
- a Caf `administrateur` manages its own Caf's `lecteur`, `agent`, `administrateur`
  and registers machine clients (for its Caf or the collectivités of its conventions);
- `lecteur_national` is only granted with the CLI.
Nobody acts on their own grant. An organisation the caller neither sees nor holds a
grant on answers 404; one it knows but may not manage answers 403.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.habilitations import repository as repo
from gateway.habilitations.models import (
    Client,
    DemandeAcces,
    EvenementHabilitation,
    Habilitation,
    HabilitationEvent,
    Invitation,
    StatutDemande,
    StatutHabilitation,
    StatutInvitation,
)
from gateway.habilitations.repository import Visibility
from gateway.habilitations.resolver import DbGrantResolver
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.principal import OrganisationKind, Principal, PrincipalKind, Role

COLLECTIVITE_ROLES = frozenset({Role.lecteur, Role.contributeur, Role.referent})
REFERENT_GRANTS = frozenset({Role.lecteur, Role.contributeur})
CAF_ROLES = frozenset({Role.lecteur, Role.agent, Role.administrateur})
CLI_ACTOR = "cli"
SYSTEM_ACTOR = "système"
EXPIRING_SOON = dt.timedelta(days=30)


@dataclass(frozen=True)
class Actor:
    """Who does something: a person through the API, or the CLI/system (id None)."""

    id: uuid.UUID | None
    label: str


@dataclass
class Authority:
    """The caller's powers over habilitations, computed once per request."""

    principal: Principal
    # For each collectivité signing a convention of one of the caller's Cafs: those Cafs.
    caf_collectivites: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)

    @property
    def holder_id(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.principal.subject)
        except ValueError:
            return None

    @property
    def manager_cafs(self) -> set[uuid.UUID]:
        return self.principal.caf_write_ids()

    @property
    def admin_cafs(self) -> set[uuid.UUID]:
        return self.principal.caf_ids([Role.administrateur])

    @property
    def referent_of(self) -> set[uuid.UUID]:
        return self.principal.collectivite_ids([Role.referent])

    def visibility(self) -> Visibility:
        return Visibility(
            national=self.principal.is_national,
            holder_id=self.holder_id,
            orgs=frozenset(self.principal.caf_ids() | self.referent_of),
            cafs=frozenset(self.principal.caf_ids()),
        )

    def manager_visibility(self) -> Visibility:
        """What the caller may manage (renew, decide): no national, no own grants."""
        return Visibility(
            national=False,
            holder_id=None,
            orgs=frozenset(self.admin_cafs | self.referent_of),
            cafs=frozenset(self.manager_cafs),
        )

    def kind_of(self, organisation_id: uuid.UUID, role: Role | None) -> OrganisationKind:
        if role is Role.lecteur_national:
            return OrganisationKind.national
        if role in (Role.agent, Role.administrateur) or organisation_id in self.principal.caf_ids():
            return OrganisationKind.caf
        return OrganisationKind.collectivite

    def sees(self, organisation_id: uuid.UUID, kind: OrganisationKind) -> bool:
        if self.principal.is_national:
            return True
        if kind is OrganisationKind.caf:
            return organisation_id in self.principal.caf_ids()
        if kind is OrganisationKind.collectivite:
            return organisation_id in self.referent_of or bool(
                self.caf_collectivites.get(organisation_id)
            )
        return False

    def knows(self, organisation_id: uuid.UUID, kind: OrganisationKind) -> bool:
        held = {g.organisation_id for g in self.principal.grants}
        return self.sees(organisation_id, kind) or organisation_id in held

    def roles_for(self, organisation_id: uuid.UUID, kind: OrganisationKind) -> set[Role]:
        """The roles the caller may grant, renew or revoke on this organisation."""
        if kind is OrganisationKind.caf:
            return set(CAF_ROLES) if organisation_id in self.admin_cafs else set()
        if kind is OrganisationKind.collectivite:
            cafs = self.caf_collectivites.get(organisation_id, set())
            if cafs & self.manager_cafs:
                return set(COLLECTIVITE_ROLES)
            if organisation_id in self.referent_of:
                return set(REFERENT_GRANTS)
        return set()

    def require_manage(
        self, organisation_id: uuid.UUID, kind: OrganisationKind, role: Role
    ) -> None:
        if not self.knows(organisation_id, kind):
            raise NotFound("Organisation introuvable.")
        if kind is OrganisationKind.national:
            raise Forbidden("Le rôle lecteur_national ne s'attribue qu'en ligne de commande.")
        if role not in self.roles_for(organisation_id, kind):
            raise Forbidden(f"Vous ne pouvez pas gérer le rôle « {role.value} » ici.")


async def authority_for(session: AsyncSession, principal: Principal) -> Authority:
    cafs = principal.caf_ids()
    if not cafs or principal.is_national:
        return Authority(principal)
    return Authority(principal, await repo.collectivites_of_cafs(session, cafs))


def actor_of(auth: Authority) -> Actor:
    return Actor(auth.holder_id, str(auth.holder_id))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def effective_status(grant: Habilitation, now: dt.datetime) -> StatutHabilitation:
    status = StatutHabilitation(grant.status)
    if status in (StatutHabilitation.active, StatutHabilitation.suspendue) and (
        grant.valid_until <= now
    ):
        return StatutHabilitation.expiree
    return status


# --- the life of a grant ----------------------------------------------------------------


async def _record(
    session: AsyncSession,
    grant: Habilitation,
    event: EvenementHabilitation,
    actor: Actor,
    reason: str | None,
) -> None:
    session.add(
        HabilitationEvent(
            grant_id=grant.id,
            event=event.value,
            actor_id=actor.id,
            actor_label=actor.label,
            reason=reason,
            role=grant.role,
            valid_until=grant.valid_until,
        )
    )
    await session.flush()


def _invalidate(
    resolver: DbGrantResolver | None, session: AsyncSession, grant: Habilitation
) -> None:
    holder = grant.person_id or grant.client_id
    if resolver is not None and holder is not None:
        resolver.invalidate_after_commit(session, holder)


async def create_grant(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    kind: OrganisationKind,
    role: Role,
    actor: Actor,
    person_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    valid_until: dt.datetime | None = None,
    default_days: int = 365,
    reason: str | None = None,
    resolver: DbGrantResolver | None = None,
) -> Habilitation:
    """A new grant (409 when the holder already has a current one on the organisation)."""
    now = await repo.db_now(session)
    existing = await repo.current_grant_of(
        session, organisation_id, person_id=person_id, client_id=client_id
    )
    if existing is not None:
        if existing.valid_until > now:
            raise Conflict(
                "Cette personne a déjà une habilitation sur cette organisation "
                f"(rôle « {existing.role} ») : renouvelez-la ou révoquez-la d'abord."
            )
        await _expire(session, existing, resolver)
    until = valid_until or now + dt.timedelta(days=default_days)
    if until <= now:
        raise InvalidPayload("La fin de validité doit être dans le futur.")
    grant = Habilitation(
        id=uuid.uuid4(),
        person_id=person_id,
        client_id=client_id,
        organisation_id=organisation_id,
        organisation_kind=kind.value,
        role=role.value,
        valid_from=now,
        valid_until=until,
        status=StatutHabilitation.active.value,
        granted_by=actor.id,
        version=1,
    )
    try:
        async with session.begin_nested():
            session.add(grant)
            await session.flush()
    except IntegrityError as exc:  # a concurrent grant won the race
        raise Conflict("Une habilitation vient d'être créée pour ce titulaire.") from exc
    await _record(session, grant, EvenementHabilitation.accordee, actor, reason)
    _invalidate(resolver, session, grant)
    return grant


async def _expire(
    session: AsyncSession, grant: Habilitation, resolver: DbGrantResolver | None
) -> None:
    grant.status = StatutHabilitation.expiree.value
    grant.version += 1
    await session.flush()
    await _record(session, grant, EvenementHabilitation.expiree, Actor(None, SYSTEM_ACTOR), None)
    _invalidate(resolver, session, grant)


async def expire_due(session: AsyncSession, resolver: DbGrantResolver | None = None) -> int:
    """Mark grants past their end as expired, with their history row."""
    due = await repo.due_for_expiry(session)
    for grant in due:
        await _expire(session, grant, resolver)
    return len(due)


async def managed_grant(
    session: AsyncSession, auth: Authority, grant_id: uuid.UUID
) -> Habilitation:
    """The grant, locked, if the caller may manage it (404 unseen, 403 not allowed)."""
    grant = await repo.grant_for_update(session, grant_id)
    if grant is None:
        raise NotFound("Habilitation introuvable.")
    kind = OrganisationKind(grant.organisation_kind)
    own = auth.holder_id is not None and auth.holder_id in (grant.person_id, grant.client_id)
    if not own and not auth.knows(grant.organisation_id, kind):
        raise NotFound("Habilitation introuvable.")
    if own:
        raise Forbidden("Vous ne pouvez pas modifier votre propre habilitation.")
    auth.require_manage(grant.organisation_id, kind, Role(grant.role))
    return grant


async def renew(
    session: AsyncSession,
    grant: Habilitation,
    actor: Actor,
    *,
    valid_until: dt.datetime | None,
    default_days: int,
    reason: str | None,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    if grant.status == StatutHabilitation.revoquee.value:
        raise Conflict("Une habilitation révoquée ne se renouvelle pas : accordez-en une nouvelle.")
    now = await repo.db_now(session)
    until = valid_until or max(now, grant.valid_until) + dt.timedelta(days=default_days)
    if until <= now or until <= grant.valid_from:
        raise InvalidPayload("La nouvelle fin de validité doit être dans le futur.")
    if grant.status == StatutHabilitation.expiree.value:
        # Back to current: the one-current-grant rule applies again.
        grant.status = StatutHabilitation.active.value
    grant.valid_until = until
    grant.version += 1
    grant.updated_at = now
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Le titulaire a déjà une autre habilitation sur cette organisation."
        ) from exc
    await _record(session, grant, EvenementHabilitation.renouvelee, actor, reason)
    _invalidate(resolver, session, grant)
    return grant


async def change_status(
    session: AsyncSession,
    grant: Habilitation,
    actor: Actor,
    event: EvenementHabilitation,
    reason: str | None,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    now = await repo.db_now(session)
    current = effective_status(grant, now)
    allowed: dict[EvenementHabilitation, tuple[set[StatutHabilitation], StatutHabilitation]] = {
        EvenementHabilitation.suspendue: (
            {StatutHabilitation.active},
            StatutHabilitation.suspendue,
        ),
        EvenementHabilitation.reactivee: (
            {StatutHabilitation.suspendue},
            StatutHabilitation.active,
        ),
        EvenementHabilitation.revoquee: (
            {StatutHabilitation.active, StatutHabilitation.suspendue, StatutHabilitation.expiree},
            StatutHabilitation.revoquee,
        ),
    }
    sources, target = allowed[event]
    if current not in sources:
        raise Conflict(f"Habilitation {current.value} : action impossible.")
    grant.status = target.value
    grant.version += 1
    grant.updated_at = now
    await session.flush()
    await _record(session, grant, event, actor, reason)
    _invalidate(resolver, session, grant)
    return grant


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
    invitation = Invitation(
        id=uuid.uuid4(),
        email=email.strip().lower(),
        organisation_id=organisation_id,
        organisation_kind=kind.value,
        role=role.value,
        token_hash=hash_token(token),
        expires_at=now + dt.timedelta(days=days),
        status=StatutInvitation.en_attente.value,
        created_by=auth.holder_id,
        version=1,
    )
    await repo.add(session, invitation)
    # The mailer (outside the gateway) sends it; the token is also returned to the inviter.
    await repo.add_outbox(
        session,
        "invitation",
        invitation.email,
        {
            "invitation_id": str(invitation.id),
            "organisation_id": str(organisation_id),
            "role": role.value,
            "expires_at": invitation.expires_at.isoformat(),
            "token": token,
        },
    )
    return NewInvitation(invitation, token)


async def accept_invitation(
    session: AsyncSession,
    auth: Authority,
    *,
    token: str,
    email: str | None,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    if auth.principal.kind is not PrincipalKind.person or auth.holder_id is None:
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
    inviter = Actor(invitation.created_by, str(invitation.created_by or CLI_ACTOR))
    grant = await create_grant(
        session,
        organisation_id=invitation.organisation_id,
        kind=OrganisationKind(invitation.organisation_kind),
        role=Role(invitation.role),
        actor=inviter,
        person_id=auth.holder_id,
        default_days=default_days,
        reason=f"invitation {invitation.id} acceptée",
        resolver=resolver,
    )
    invitation.status = StatutInvitation.acceptee.value
    invitation.accepted_by = auth.holder_id
    invitation.accepted_at = now
    invitation.grant_id = grant.id
    invitation.version += 1
    await session.flush()
    return grant


async def cancel_invitation(
    session: AsyncSession, auth: Authority, invitation_id: uuid.UUID
) -> Invitation:
    invitation = await repo.invitation_by_id(session, invitation_id)
    if invitation is None:
        raise NotFound("Invitation introuvable.")
    kind = OrganisationKind(invitation.organisation_kind)
    if not auth.knows(invitation.organisation_id, kind):
        raise NotFound("Invitation introuvable.")
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
    if auth.principal.kind is not PrincipalKind.person or auth.holder_id is None:
        raise Forbidden("Seule une personne peut demander un accès.")
    if role not in COLLECTIVITE_ROLES:
        raise InvalidPayload(
            "Un accès se demande sur une collectivité : lecteur, contributeur ou referent."
        )
    if not await repo.is_signatory_collectivite(session, organisation_id):
        raise NotFound("Collectivité introuvable parmi les signataires des conventions.")
    if organisation_id in {g.organisation_id for g in auth.principal.grants}:
        raise Conflict("Vous avez déjà une habilitation sur cette collectivité.")
    if await repo.pending_demande(session, auth.holder_id, organisation_id) is not None:
        raise Conflict("Une demande est déjà en attente pour cette collectivité.")
    demande = DemandeAcces(
        id=uuid.uuid4(),
        person_id=auth.holder_id,
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
    return demande


async def decidable_demande(
    session: AsyncSession, auth: Authority, demande_id: uuid.UUID
) -> DemandeAcces:
    demande = await repo.demande_for_update(session, demande_id)
    kind = OrganisationKind.collectivite
    if demande is None or (
        demande.person_id != auth.holder_id and not auth.knows(demande.organisation_id, kind)
    ):
        raise NotFound("Demande introuvable.")
    if demande.person_id == auth.holder_id:
        raise Forbidden("Vous ne pouvez pas décider de votre propre demande.")
    auth.require_manage(demande.organisation_id, kind, Role(demande.role))
    if demande.status != StatutDemande.en_attente.value:
        raise Conflict(f"Demande déjà {demande.status}.")
    return demande


async def approve(
    session: AsyncSession,
    auth: Authority,
    demande: DemandeAcces,
    *,
    reason: str | None,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> Habilitation:
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
    session: AsyncSession, auth: Authority, demande: DemandeAcces, *, reason: str
) -> DemandeAcces:
    await _decide(session, auth, demande, StatutDemande.refusee, reason, await repo.db_now(session))
    return demande


async def _decide(
    session: AsyncSession,
    auth: Authority,
    demande: DemandeAcces,
    status: StatutDemande,
    reason: str | None,
    at: dt.datetime,
) -> None:
    demande.status = status.value
    demande.decided_by = auth.holder_id
    demande.decided_at = at
    demande.reason = reason
    demande.version += 1
    await session.flush()


# --- machine clients ----------------------------------------------------------------------


async def register_client(
    session: AsyncSession,
    *,
    client_id: str,
    nom: str,
    organisation_id: uuid.UUID,
    kind: OrganisationKind,
    role: Role,
    actor: Actor,
    default_days: int,
    auth: Authority | None = None,
    resolver: DbGrantResolver | None = None,
) -> tuple[Client, Habilitation]:
    """Register a client and grant it its role (`auth` None: the CLI, no rights check)."""
    if auth is not None:
        if not auth.knows(organisation_id, kind):
            raise NotFound("Organisation introuvable.")
        may = bool(auth.admin_cafs) and (
            (kind is OrganisationKind.caf and organisation_id in auth.admin_cafs)
            or (
                kind is OrganisationKind.collectivite
                and bool(auth.caf_collectivites.get(organisation_id, set()) & auth.admin_cafs)
            )
        )
        if not may:
            raise Forbidden("Seul un administrateur de la Caf enregistre des clients machine.")
    if role not in (CAF_ROLES if kind is OrganisationKind.caf else COLLECTIVITE_ROLES) and not (
        kind is OrganisationKind.national and role is Role.lecteur_national
    ):
        raise InvalidPayload(f"Rôle « {role.value} » impossible sur cette organisation.")
    if await repo.client_by_client_id(session, client_id) is not None:
        raise Conflict("Ce client_id est déjà enregistré.")
    client = Client(
        id=uuid.uuid4(),
        client_id=client_id,
        nom=nom,
        organisation_id=organisation_id,
        organisation_kind=kind.value,
        role=role.value,
        registered_by=actor.id,
    )
    try:
        async with session.begin_nested():
            await repo.add(session, client)
    except IntegrityError as exc:
        raise Conflict("Ce client_id est déjà enregistré.") from exc
    grant = await create_grant(
        session,
        organisation_id=organisation_id,
        kind=kind,
        role=role,
        actor=actor,
        client_id=client.id,
        default_days=default_days,
        reason="client machine enregistré",
        resolver=resolver,
    )
    if resolver is not None:
        # The client may have been refused (and that remembered) before its registration.
        resolver.invalidate_after_commit(session, None)
    return client, grant


# --- what the caller may do ---------------------------------------------------------------

CAPABILITIES: dict[Role, tuple[str, ...]] = {
    Role.lecteur: ("lire",),
    Role.contributeur: ("lire", "contribuer_actions_portees", "deposer_documents"),
    Role.referent: (
        "lire",
        "contribuer_actions_portees",
        "deposer_documents",
        "gerer_habilitations_collectivite",
    ),
    Role.agent: (
        "lire",
        "gerer_conventions",
        "valider_suivis",
        "gerer_habilitations_collectivites",
    ),
    Role.administrateur: (
        "lire",
        "gerer_conventions",
        "valider_suivis",
        "gerer_habilitations_collectivites",
        "gerer_agents_caf",
        "enregistrer_clients",
    ),
    Role.lecteur_national: ("lire_tout", "agregats_nationaux"),
}


def manageable(auth: Authority) -> list[tuple[uuid.UUID, OrganisationKind, set[Role]]]:
    """Organisations the caller may grant on, with the roles."""
    out: list[tuple[uuid.UUID, OrganisationKind, set[Role]]] = []
    for caf in sorted(auth.admin_cafs, key=str):
        out.append((caf, OrganisationKind.caf, set(CAF_ROLES)))
    collectivites = set(auth.referent_of) | {
        org for org, cafs in auth.caf_collectivites.items() if cafs & auth.manager_cafs
    }
    for org in sorted(collectivites, key=str):
        roles = auth.roles_for(org, OrganisationKind.collectivite)
        if roles:
            out.append((org, OrganisationKind.collectivite, roles))
    return out
