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
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.habilitations import repository as repo
from gateway.habilitations.models import (
    EvenementHabilitation,
    Habilitation,
    HabilitationEvent,
    StatutHabilitation,
)
from gateway.habilitations.repository import Visibility
from gateway.habilitations.resolver import DbGrantResolver
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.principal import CAF_WRITE_ROLES, OrganisationKind, Principal, Role

COLLECTIVITE_ROLES = frozenset({Role.lecteur, Role.contributeur, Role.referent})
REFERENT_GRANTS = frozenset({Role.lecteur, Role.contributeur})
CAF_ROLES = frozenset({Role.lecteur, Role.agent, Role.administrateur})
CLI_ACTOR = "cli"
SYSTEM_ACTOR = "système"
EXPIRING_SOON = dt.timedelta(days=30)


ROLES_OF_KIND = {
    OrganisationKind.caf: CAF_ROLES,
    OrganisationKind.collectivite: COLLECTIVITE_ROLES,
}


def managers_of(
    organisation_id: uuid.UUID, kind: OrganisationKind, role: Role, cafs: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, OrganisationKind, frozenset[Role]]]:
    """Who may grant, renew or revoke `role` on the organisation: the holders of these
    roles on these organisations (never on their own grant). A Caf's roles: its
    administrateurs; a collectivité's: the agents and administrateurs of `cafs` (the
    Cafs of the conventions it signs), and its referents for lecteurs and contributeurs.
    The one rule: `Authority.roles_for` asks it, the expiry notices name its holders."""
    if role not in ROLES_OF_KIND.get(kind, frozenset()):
        return []
    if kind is OrganisationKind.caf:
        return [(organisation_id, OrganisationKind.caf, frozenset({Role.administrateur}))]
    found = [(caf, OrganisationKind.caf, CAF_WRITE_ROLES) for caf in sorted(cafs, key=str)]
    if role in REFERENT_GRANTS:
        found.append((organisation_id, OrganisationKind.collectivite, frozenset({Role.referent})))
    return found


@dataclass(frozen=True)
class Actor:
    """Who does something: a person through the API, or the CLI/system (id None).
    `label` names them as a history shows it (the display name at the time);
    `client`, the app or partner system they used."""

    id: uuid.UUID | None
    label: str
    client: str | None = None


@dataclass
class Authority:
    """The caller's powers over habilitations, computed once per request."""

    principal: Principal
    # For each collectivité signing a convention of one of the caller's Cafs: those Cafs.
    caf_collectivites: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)

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
            holder_id=self.principal.holder_id,
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

    def owns(self, grant: Habilitation) -> bool:
        holder = self.principal.holder_id
        return holder is not None and holder in (grant.person_id, grant.client_id)

    def sees_grant(self, grant: Habilitation) -> bool:
        """One's own grants, and those on an organisation one sees."""
        return self.owns(grant) or self.sees(
            grant.organisation_id, OrganisationKind(grant.organisation_kind)
        )

    def knows(self, organisation_id: uuid.UUID, kind: OrganisationKind) -> bool:
        held = {g.organisation_id for g in self.principal.grants}
        return self.sees(organisation_id, kind) or organisation_id in held

    def roles_for(self, organisation_id: uuid.UUID, kind: OrganisationKind) -> set[Role]:
        """The roles the caller may grant, renew or revoke on this organisation."""
        cafs = self.caf_collectivites.get(organisation_id, set())
        return {
            role
            for role in ROLES_OF_KIND.get(kind, frozenset())
            if any(
                org in self.principal.organisations(held_kind, held_roles)
                for org, held_kind, held_roles in managers_of(organisation_id, kind, role, cafs)
            )
        }

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
    principal = auth.principal
    # The authors' columns name persons: a machine client is named by its label only.
    return Actor(principal.person_id, principal.name or principal.subject, principal.client)


def effective_status(grant: Habilitation, now: dt.datetime) -> StatutHabilitation:
    status = StatutHabilitation(grant.status)
    if status in (StatutHabilitation.active, StatutHabilitation.suspendue) and (
        grant.valid_until <= now
    ):
        return StatutHabilitation.expiree
    return status


# --- reading grants ----------------------------------------------------------------------


async def list_grants(
    session: AsyncSession,
    auth: Authority,
    *,
    limit: int,
    cursor: str | None,
    organisation_id: uuid.UUID | None,
    statuts: Sequence[StatutHabilitation] | None,
    expiring_before: dt.datetime | None,
) -> Sequence[repo.GrantRow]:
    """The grants the caller sees; those expiring before a date are the current ones
    (to renew) unless statuses are asked for."""
    wanted = [s.value for s in statuts] if statuts else None
    if expiring_before is not None and wanted is None:
        wanted = list(repo.CURRENT)
    return await repo.list_grants(
        session,
        auth.visibility(),
        limit=limit,
        cursor=cursor,
        organisation_id=organisation_id,
        statuts=wanted,
        expiring_before=expiring_before,
    )


async def visible_grant(
    session: AsyncSession, auth: Authority, grant_id: uuid.UUID
) -> repo.GrantRow:
    """A grant the caller sees, with its holder (404 otherwise)."""
    row = await repo.grant_row(session, grant_id)
    if row is None or not auth.sees_grant(row.grant):
        raise NotFound("Habilitation introuvable.")
    return row


async def grant_history(
    session: AsyncSession, auth: Authority, grant_id: uuid.UUID, limit: int, cursor: str | None
) -> Sequence[HabilitationEvent]:
    await visible_grant(session, auth, grant_id)
    return await repo.events_of(session, grant_id, limit, cursor)


async def grant_view(session: AsyncSession, grant_id: uuid.UUID) -> repo.GrantRow:
    """A grant just written, as its answer shows it (holder, effective status)."""
    await session.flush()
    row = await repo.grant_row(session, grant_id)
    assert row is not None
    return row


@dataclass(frozen=True)
class Situation:
    """What /moi tells the caller beyond its identity."""

    grants: list[tuple[repo.GrantRow, tuple[str, ...]]]  # each with its capabilities
    manageable: list[tuple[uuid.UUID, OrganisationKind, set[Role]]]
    expiring_soon: int
    pending_demandes: int


async def situation(session: AsyncSession, auth: Authority) -> Situation:
    """The caller's current grants (an active one gives its role's capabilities, a
    suspended one none), where it may grant, and its work waiting."""
    holder = auth.principal.holder_id
    rows = await repo.holder_grants(session, holder) if holder is not None else []
    manager_vis = auth.manager_visibility()
    return Situation(
        grants=[
            (
                r,
                CAPABILITIES[Role(r.grant.role)]
                if r.grant.status == StatutHabilitation.active.value
                else (),
            )
            for r in rows
        ],
        manageable=manageable(auth),
        expiring_soon=await repo.count_expiring(session, manager_vis, EXPIRING_SOON, holder),
        pending_demandes=await repo.count_pending_demandes(session, manager_vis),
    )


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
            actor_client=actor.client,
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


async def grant_to_person(
    session: AsyncSession,
    auth: Authority,
    *,
    person_id: uuid.UUID,
    organisation_id: uuid.UUID,
    role: Role,
    valid_until: dt.datetime | None,
    reason: str | None,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    """A grant made through the API: by someone who may grant this role on this
    organisation (404 unknown to them, 403 not theirs to give), never to oneself, to a
    person who has signed in once (404 otherwise)."""
    kind = auth.kind_of(organisation_id, role)
    auth.require_manage(organisation_id, kind, role)
    if person_id == auth.principal.person_id:
        raise Forbidden("Vous ne pouvez pas vous attribuer une habilitation.")
    if await repo.person_by_id(session, person_id) is None:
        raise NotFound("Personne inconnue (elle doit s'être connectée une fois).")
    return await create_grant(
        session,
        organisation_id=organisation_id,
        kind=kind,
        role=role,
        actor=actor_of(auth),
        person_id=person_id,
        valid_until=valid_until,
        default_days=default_days,
        reason=reason,
        resolver=resolver,
    )


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


async def known_grant(session: AsyncSession, auth: Authority, grant_id: uuid.UUID) -> Habilitation:
    """The grant, locked, if it is the caller's own or on an organisation it knows
    (404 otherwise: nothing is told of the others)."""
    grant = await repo.grant_for_update(session, grant_id)
    if grant is None or not (
        auth.owns(grant)
        or auth.knows(grant.organisation_id, OrganisationKind(grant.organisation_kind))
    ):
        raise NotFound("Habilitation introuvable.")
    return grant


async def managed_grant(
    session: AsyncSession, auth: Authority, grant_id: uuid.UUID, preconditions: Preconditions
) -> Habilitation:
    """The grant, locked, if the caller may manage it (404 unseen, 403 not allowed) and
    the request's preconditions hold on its version (428, 412)."""
    grant = await known_grant(session, auth, grant_id)
    if auth.owns(grant):
        raise Forbidden("Vous ne pouvez pas modifier votre propre habilitation.")
    kind = OrganisationKind(grant.organisation_kind)
    auth.require_manage(grant.organisation_id, kind, Role(grant.role))
    preconditions.check(etag_for(grant.id, grant.version))
    return grant


async def renew(
    session: AsyncSession,
    auth: Authority,
    grant_id: uuid.UUID,
    preconditions: Preconditions,
    *,
    valid_until: dt.datetime | None,
    default_days: int,
    reason: str | None,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    grant = await managed_grant(session, auth, grant_id, preconditions)
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
    await _record(session, grant, EvenementHabilitation.renouvelee, actor_of(auth), reason)
    _invalidate(resolver, session, grant)
    return grant


async def change_status(
    session: AsyncSession,
    auth: Authority,
    grant_id: uuid.UUID,
    preconditions: Preconditions,
    event: EvenementHabilitation,
    reason: str | None,
    resolver: DbGrantResolver | None,
) -> Habilitation:
    """Suspend, reactivate or revoke a grant the caller manages."""
    grant = await managed_grant(session, auth, grant_id, preconditions)
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
    await _record(session, grant, event, actor_of(auth), reason)
    _invalidate(resolver, session, grant)
    return grant


# --- what the caller may do ---------------------------------------------------------------

CAPABILITIES: dict[Role, tuple[str, ...]] = {
    Role.lecteur: ("lire",),
    Role.contributeur: ("lire", "contribuer_actions_portees", "deposer_documents"),
    Role.referent: (
        "lire",
        "contribuer_actions_portees",
        "deposer_documents",
        "gerer_habilitations_collectivite",
        # Art. 12: mises en demeure and résiliation, for its own collectivité.
        "resilier_pour_sa_collectivite",
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
