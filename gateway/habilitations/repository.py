"""Every SQL statement of the habilitations (gateway schema)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Uuid,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, array, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from gateway.habilitations.models import (
    AvisExpiration,
    Client,
    DemandeAcces,
    Habilitation,
    HabilitationEvent,
    Invitation,
    Person,
    StatutDemande,
    StatutHabilitation,
    convention_ref,
)
from kernel.convention_ref import ConventionRef, name_of
from kernel.pagination import after_keyset
from kernel.principal import OrganisationKind

CURRENT = (StatutHabilitation.active.value, StatutHabilitation.suspendue.value)
# The persons who acted on a row (granted, invited, accepted, decided, registered), named
# beside their ids in the answers: an outer join each, in the row's own statement.
GRANTER = aliased(Person, name="granter")
INVITER = aliased(Person, name="inviter")
ACCEPTER = aliased(Person, name="accepter")
DECIDER = aliased(Person, name="decider")
REGISTRAR = aliased(Person, name="registrar")


@dataclass(frozen=True)
class Visibility:
    """What a caller may see, as SQL-ready sets (see service.Authority)."""

    national: bool
    holder_id: uuid.UUID | None
    # Organisations whose habilitations the caller sees directly (its Cafs, the
    # collectivités it is referent of).
    orgs: frozenset[uuid.UUID]
    # Cafs whose conventions' collectivités the caller sees.
    cafs: frozenset[uuid.UUID]


def _uuid_array(ids: Iterable[uuid.UUID]) -> BindParameter[list[uuid.UUID]]:
    return literal(sorted(ids), ARRAY(Uuid))


async def collectivites_of_cafs(
    session: AsyncSession, cafs: Iterable[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Each organisation signing a convention of one of `cafs` (not as its Caf), with them."""
    ids = sorted(set(cafs))
    if not ids:
        return {}
    inner = (
        select(
            func.unnest(convention_ref.c.signataire_ids).label("org"),
            convention_ref.c.caf_id,
        )
        .where(convention_ref.c.caf_id == func.any(_uuid_array(ids)))
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.org, inner.c.caf_id).where(inner.c.org != inner.c.caf_id).distinct()
    )
    out: dict[uuid.UUID, set[uuid.UUID]] = {}
    for org_id, caf_id in rows:
        out.setdefault(org_id, set()).add(caf_id)
    return out


def _visible(
    org_col: QueryableAttribute[uuid.UUID] | QueryableAttribute[uuid.UUID | None],
    holder_clause: ColumnElement[bool],
    vis: Visibility,
) -> ColumnElement[bool]:
    if vis.national:
        return true()
    conditions: list[ColumnElement[bool]] = [holder_clause]
    if vis.orgs:
        conditions.append(org_col == func.any(_uuid_array(vis.orgs)))
    if vis.cafs:
        org = func.unnest(convention_ref.c.signataire_ids)
        signed = select(org).where(convention_ref.c.caf_id == func.any(_uuid_array(vis.cafs)))
        conditions.append(org_col.in_(signed.scalar_subquery()))
    return or_(*conditions)


# --- persons and clients -------------------------------------------------------------


async def person_by_id(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def person_by_identity(session: AsyncSession, issuer: str, subject: str) -> Person | None:
    return (
        await session.execute(
            select(Person).where(Person.issuer == issuer, Person.subject == subject)
        )
    ).scalar_one_or_none()


async def get_or_add_person(
    session: AsyncSession,
    issuer: str,
    subject: str,
    *,
    email: str | None = None,
    name: str | None = None,
    id_: uuid.UUID | None = None,
) -> Person:
    """The person (issuer, subject), recorded now if the gateway never saw them (the CLI
    and the demo grant roles before the first login)."""
    person = await person_by_identity(session, issuer, subject)
    if person is None:
        person = Person(
            id=id_ or uuid.uuid4(), issuer=issuer, subject=subject, email=email, name=name
        )
        await add(session, person)
    return person


async def add(session: AsyncSession, *objects: object) -> None:
    session.add_all(objects)
    await session.flush()


async def client_by_client_id(session: AsyncSession, client_id: str) -> Client | None:
    return (
        await session.execute(select(Client).where(Client.client_id == client_id))
    ).scalar_one_or_none()


class ClientRow(NamedTuple):
    """A machine client with the name of who registered it."""

    client: Client
    registered_by_name: str | None
    organisation_name: str | None


def _client_select() -> Select[Client, str | None, str | None]:
    return select(
        Client,
        REGISTRAR.name.label("registered_by_name"),
        _organisation_name(Client.organisation_id).label("organisation_name"),
    ).outerjoin(REGISTRAR, REGISTRAR.id == Client.registered_by)


async def client_row(session: AsyncSession, id_: uuid.UUID) -> ClientRow:
    row = (await session.execute(_client_select().where(Client.id == id_))).one()
    return ClientRow._make(row)


async def list_clients(
    session: AsyncSession, vis: Visibility, limit: int, cursor: str | None
) -> list[ClientRow]:
    stmt = _client_select().where(
        _visible(Client.organisation_id, false(), vis)
        if vis.holder_id is None
        else _visible(Client.organisation_id, Client.id == vis.holder_id, vis)
    )
    after = after_keyset([Client.client_id], cursor)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(Client.client_id).limit(limit + 1)
    return [ClientRow._make(r) for r in await session.execute(stmt)]


# --- grants -------------------------------------------------------------------------


class GrantRow(NamedTuple):
    """A grant with its holder's names, and the database's clock."""

    grant: Habilitation
    person_name: str | None
    person_email: str | None
    client_client_id: str | None
    client_nom: str | None
    granted_by_name: str | None
    organisation_name: str | None
    db_now: dt.datetime


def _organisation_name(
    organisation_id: QueryableAttribute[uuid.UUID] | ColumnElement[uuid.UUID],
) -> ColumnElement[str | None]:
    """An organisation's name from the replica of a convention that names it (the
    newest: a rename reaches it first); NULL when no convention names it."""
    named = or_(
        convention_ref.c.caf_id == organisation_id,
        convention_ref.c.signataire_ids.overlap(array([organisation_id])),
    )
    return (
        select(name_of(convention_ref, organisation_id))
        .where(named)
        .order_by(convention_ref.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


async def organisation_name(session: AsyncSession, organisation_id: uuid.UUID) -> str | None:
    """`_organisation_name` for one organisation (a write's answer, built in hand)."""
    column = _organisation_name(literal(organisation_id, Uuid))
    return (await session.execute(select(column))).scalar_one()


def _grant_select() -> Select[
    Habilitation, str | None, str | None, str, str, str | None, str | None, dt.datetime
]:
    # The database's clock comes with the rows: a grant's effective status (expired?)
    # is read against it without another round trip.
    return select(
        Habilitation,
        Person.name.label("person_name"),
        Person.email.label("person_email"),
        Client.client_id.label("client_client_id"),
        Client.nom.label("client_nom"),
        GRANTER.name.label("granted_by_name"),
        _organisation_name(Habilitation.organisation_id).label("organisation_name"),
        func.now().label("db_now"),
    ).select_from(
        Habilitation.__table__.outerjoin(Person, Person.id == Habilitation.person_id)
        .outerjoin(Client, Client.id == Habilitation.client_id)
        .outerjoin(GRANTER, GRANTER.id == Habilitation.granted_by)
    )


def _holder_clause(vis: Visibility) -> ColumnElement[bool]:
    if vis.holder_id is None:
        return false()
    return or_(Habilitation.person_id == vis.holder_id, Habilitation.client_id == vis.holder_id)


async def grant_row(session: AsyncSession, grant_id: uuid.UUID) -> GrantRow | None:
    row = (await session.execute(_grant_select().where(Habilitation.id == grant_id))).one_or_none()
    return None if row is None else GrantRow._make(row)


async def grant_for_update(session: AsyncSession, grant_id: uuid.UUID) -> Habilitation | None:
    return (
        await session.execute(
            select(Habilitation).where(Habilitation.id == grant_id).with_for_update()
        )
    ).scalar_one_or_none()


async def list_grants(
    session: AsyncSession,
    vis: Visibility,
    *,
    limit: int,
    cursor: str | None,
    organisation_id: uuid.UUID | None = None,
    statuts: Sequence[str] | None = None,
    expiring_before: dt.datetime | None = None,
) -> Sequence[GrantRow]:
    stmt = _grant_select().where(_visible(Habilitation.organisation_id, _holder_clause(vis), vis))
    if organisation_id is not None:
        stmt = stmt.where(Habilitation.organisation_id == organisation_id)
    if statuts:
        stmt = stmt.where(Habilitation.status.in_(statuts))
    if expiring_before is not None:
        stmt = stmt.where(Habilitation.valid_until < expiring_before)
    after = after_keyset([Habilitation.valid_until, Habilitation.id], cursor)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(Habilitation.valid_until, Habilitation.id).limit(limit + 1)
    return [GrantRow._make(r) for r in await session.execute(stmt)]


async def holder_grants(session: AsyncSession, holder_id: uuid.UUID) -> Sequence[GrantRow]:
    """The caller's own grants that still matter (active or suspended)."""
    stmt = (
        _grant_select()
        .where(or_(Habilitation.person_id == holder_id, Habilitation.client_id == holder_id))
        .where(Habilitation.status.in_(CURRENT))
        .order_by(Habilitation.valid_until, Habilitation.id)
    )
    return [GrantRow._make(r) for r in await session.execute(stmt)]


async def current_grant_of(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    *,
    person_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> Habilitation | None:
    holder = (
        Habilitation.person_id == person_id
        if person_id is not None
        else Habilitation.client_id == client_id
    )
    return (
        await session.execute(
            select(Habilitation)
            .where(holder, Habilitation.organisation_id == organisation_id)
            .where(Habilitation.status.in_(CURRENT))
            .with_for_update()
        )
    ).scalar_one_or_none()


async def count_expiring(
    session: AsyncSession,
    vis: Visibility,
    within: dt.timedelta,
    exclude_holder: uuid.UUID | None,
) -> int:
    """Current grants the caller manages that end within `within` from now."""
    stmt = (
        select(func.count())
        .select_from(Habilitation)
        .where(_visible(Habilitation.organisation_id, false(), vis))
        .where(Habilitation.status.in_(CURRENT), Habilitation.valid_until < func.now() + within)
    )
    if exclude_holder is not None:
        stmt = stmt.where(
            func.coalesce(Habilitation.person_id, Habilitation.client_id) != exclude_holder
        )
    return int((await session.execute(stmt)).scalar_one())


async def due_for_expiry(session: AsyncSession) -> Sequence[Habilitation]:
    """Grants past their end still marked current (locked, skipped if busy)."""
    stmt = (
        select(Habilitation)
        .where(Habilitation.status.in_(CURRENT), Habilitation.valid_until <= func.now())
        .order_by(Habilitation.valid_until)
        .limit(1000)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def db_now(session: AsyncSession) -> dt.datetime:
    value: dt.datetime = (await session.execute(select(func.now()))).scalar_one()
    return value


# --- history ------------------------------------------------------------------------


async def events_of(
    session: AsyncSession, grant_id: uuid.UUID, limit: int, cursor: str | None
) -> Sequence[HabilitationEvent]:
    stmt = select(HabilitationEvent).where(HabilitationEvent.grant_id == grant_id)
    after = after_keyset([HabilitationEvent.id], cursor)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(HabilitationEvent.id).limit(limit + 1)
    return (await session.execute(stmt)).scalars().all()


# --- invitations ----------------------------------------------------------------------


async def invitation_by_token_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    return (
        await session.execute(
            select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
        )
    ).scalar_one_or_none()


async def invitation_by_id(session: AsyncSession, id_: uuid.UUID) -> Invitation | None:
    return await session.get(Invitation, id_)


class InvitationRow(NamedTuple):
    """An invitation with the names of who created and who accepted it."""

    invitation: Invitation
    created_by_name: str | None
    accepted_by_name: str | None
    organisation_name: str | None


def _invitation_select() -> Select[Invitation, str | None, str | None, str | None]:
    return (
        select(
            Invitation,
            INVITER.name.label("created_by_name"),
            ACCEPTER.name.label("accepted_by_name"),
            _organisation_name(Invitation.organisation_id).label("organisation_name"),
        )
        .outerjoin(INVITER, INVITER.id == Invitation.created_by)
        .outerjoin(ACCEPTER, ACCEPTER.id == Invitation.accepted_by)
    )


async def invitation_row(session: AsyncSession, id_: uuid.UUID) -> InvitationRow:
    row = (await session.execute(_invitation_select().where(Invitation.id == id_))).one()
    return InvitationRow._make(row)


async def visible_invitation_row(
    session: AsyncSession, id_: uuid.UUID, vis: Visibility
) -> InvitationRow | None:
    """One invitation, filtered as `list_invitations` filters them."""
    stmt = _invitation_select().where(
        Invitation.id == id_, _visible(Invitation.organisation_id, false(), vis)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else InvitationRow._make(row)


async def list_invitations(
    session: AsyncSession,
    vis: Visibility,
    limit: int,
    cursor: str | None,
    organisation_id: uuid.UUID | None,
) -> list[InvitationRow]:
    stmt = _invitation_select().where(_visible(Invitation.organisation_id, false(), vis))
    if organisation_id is not None:
        stmt = stmt.where(Invitation.organisation_id == organisation_id)
    after = after_keyset([Invitation.created_at, Invitation.id], cursor)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(Invitation.created_at, Invitation.id).limit(limit + 1)
    return [InvitationRow._make(r) for r in await session.execute(stmt)]


# --- access requests -----------------------------------------------------------------


async def demande_for_update(session: AsyncSession, id_: uuid.UUID) -> DemandeAcces | None:
    return (
        await session.execute(select(DemandeAcces).where(DemandeAcces.id == id_).with_for_update())
    ).scalar_one_or_none()


async def pending_demande(
    session: AsyncSession, person_id: uuid.UUID, organisation_id: uuid.UUID
) -> DemandeAcces | None:
    return (
        await session.execute(
            select(DemandeAcces).where(
                DemandeAcces.person_id == person_id,
                DemandeAcces.organisation_id == organisation_id,
                DemandeAcces.status == StatutDemande.en_attente.value,
            )
        )
    ).scalar_one_or_none()


def _demande_visible(vis: Visibility) -> ColumnElement[bool]:
    mine = false() if vis.holder_id is None else DemandeAcces.person_id == vis.holder_id
    return _visible(DemandeAcces.organisation_id, mine, vis)


class DemandeRow(NamedTuple):
    """An access request with its asker's names."""

    demande: DemandeAcces
    person_name: str | None
    person_email: str | None
    decided_by_name: str | None
    organisation_name: str | None


def _demande_select() -> Select[DemandeAcces, str | None, str | None, str | None, str | None]:
    return (
        select(
            DemandeAcces,
            Person.name.label("person_name"),
            Person.email.label("person_email"),
            DECIDER.name.label("decided_by_name"),
            _organisation_name(DemandeAcces.organisation_id).label("organisation_name"),
        )
        .join(Person, Person.id == DemandeAcces.person_id)
        .outerjoin(DECIDER, DECIDER.id == DemandeAcces.decided_by)
    )


async def demande_row(session: AsyncSession, id_: uuid.UUID, vis: Visibility) -> DemandeRow | None:
    stmt = _demande_select().where(DemandeAcces.id == id_).where(_demande_visible(vis))
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else DemandeRow._make(row)


async def list_demandes(
    session: AsyncSession,
    vis: Visibility,
    limit: int,
    cursor: str | None,
    statut: str | None,
    organisation_id: uuid.UUID | None,
) -> list[DemandeRow]:
    stmt = _demande_select().where(_demande_visible(vis))
    if statut is not None:
        stmt = stmt.where(DemandeAcces.status == statut)
    if organisation_id is not None:
        stmt = stmt.where(DemandeAcces.organisation_id == organisation_id)
    after = after_keyset([DemandeAcces.created_at, DemandeAcces.id], cursor)
    if after is not None:
        stmt = stmt.where(after)
    stmt = stmt.order_by(DemandeAcces.created_at, DemandeAcces.id).limit(limit + 1)
    return [DemandeRow._make(r) for r in await session.execute(stmt)]


async def count_pending_demandes(session: AsyncSession, vis: Visibility) -> int:
    stmt = (
        select(func.count())
        .select_from(DemandeAcces)
        .where(_visible(DemandeAcces.organisation_id, false(), vis))
        .where(DemandeAcces.status == StatutDemande.en_attente.value)
    )
    return int((await session.execute(stmt)).scalar_one())


async def is_signatory_collectivite(session: AsyncSession, organisation_id: uuid.UUID) -> bool:
    """Does the organisation sign a convention the replica knows (not as its Caf)?"""
    stmt = select(
        select(convention_ref.c.id)
        .where(convention_ref.c.signataire_ids.overlap(_uuid_array([organisation_id])))
        .where(convention_ref.c.caf_id != organisation_id)
        .exists()
    )
    return bool((await session.execute(stmt)).scalar_one())


def _usable_grant() -> ColumnElement[bool]:
    """Grants that count for access: active and inside their validity period."""
    g = Habilitation.__table__.c
    return and_(g.status == StatutHabilitation.active.value, g.valid_until > func.now())


async def person_label(session: AsyncSession, person_id: uuid.UUID | None) -> str | None:
    """How a history names a person: their recorded name, else their id."""
    if person_id is None:
        return None
    name = await session.scalar(select(Person.name).where(Person.id == person_id))
    return name or str(person_id)


async def client_grant_rows(session: AsyncSession, client_id: str) -> Sequence[Any]:
    """A machine client's usable grants (one row with null grant columns if it has none;
    no row if it is not registered), its registered name, with the database's clock."""
    g = Habilitation.__table__.c
    c = Client.__table__.c
    stmt = (
        select(c.id, c.nom.label("name"), g.organisation_id, g.organisation_kind, g.role)
        .add_columns(g.valid_from, g.valid_until, func.now().label("db_now"))
        .select_from(
            Client.__table__.outerjoin(
                Habilitation.__table__, and_(g.client_id == c.id, _usable_grant())
            )
        )
        .where(c.client_id == client_id)
    )
    return (await session.execute(stmt)).all()


async def upsert_person_grant_rows(
    session: AsyncSession,
    issuer: str,
    subject: str,
    email: str | None,
    name: str | None,
    *,
    email_verified: bool = False,
) -> Sequence[Any]:
    """Record the person as seen (created the first time) and return their name as now
    known and their usable grants in the same statement (one row with null grant columns
    if they have none). The e-mail and whether it is verified go together: a token
    without an e-mail leaves both as they were."""
    g = Habilitation.__table__.c
    p = Person.__table__.c
    upsert = insert(Person).values(
        id=uuid.uuid4(),
        issuer=issuer,
        subject=subject,
        email=email,
        email_verified=email is not None and email_verified,
        name=name,
    )
    person = upsert.on_conflict_do_update(
        index_elements=[p.issuer, p.subject],
        set_={
            "last_seen_at": func.now(),
            "email": func.coalesce(upsert.excluded.email, p.email),
            "email_verified": case(
                (upsert.excluded.email.is_(None), p.email_verified),
                else_=upsert.excluded.email_verified,
            ),
            "name": func.coalesce(upsert.excluded.name, p.name),
        },
    ).returning(p.id, p.name)
    holder = person.cte("holder")
    stmt = select(
        holder.c.id,
        holder.c.name,
        g.organisation_id,
        g.organisation_kind,
        g.role,
        g.valid_from,
        g.valid_until,
        func.now().label("db_now"),
    ).select_from(
        holder.outerjoin(Habilitation.__table__, and_(g.person_id == holder.c.id, _usable_grant()))
    )
    return (await session.execute(stmt)).all()


# --- what is kept about people (retention.py) ------------------------------------------


def _grant_end() -> ColumnElement[dt.datetime]:
    """When a grant stops giving access: its revocation if sooner, else its end date."""
    g = Habilitation.__table__.c
    return case(
        (g.status == StatutHabilitation.revoquee.value, func.least(g.valid_until, g.updated_at)),
        else_=g.valid_until,
    )


async def erase_departed_persons(
    session: AsyncSession, now: dt.datetime, cutoff: dt.datetime
) -> list[uuid.UUID]:
    """Erase the e-mail of the persons with no link left since `cutoff`: no grant that
    ended (or ends) after it, no access request pending or decided after it, not seen
    since. Their subject and name stay (histories name them). Their ids."""
    g = Habilitation.__table__.c
    d = DemandeAcces.__table__.c
    p = Person.__table__.c
    recent_grant = select(g.id).where(g.person_id == p.id, _grant_end() >= cutoff).exists()
    recent_request = (
        select(d.id)
        .where(
            d.person_id == p.id,
            or_(
                d.status == StatutDemande.en_attente.value,
                func.coalesce(d.decided_at, d.created_at) >= cutoff,
            ),
        )
        .exists()
    )
    result = await session.execute(
        update(Person)
        .where(p.email.is_not(None), p.last_seen_at < cutoff, ~recent_grant, ~recent_request)
        .values(email=None, email_verified=False, erased_at=now)
        .returning(p.id)
    )
    return list(result.scalars().all())


async def erase_ended_invitations(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Erase the e-mail of invitations over (accepted, or past their expiry, which a
    cancelled one never outlives) before `cutoff`. How many."""
    i = Invitation.__table__.c
    result = await session.execute(
        update(Invitation)
        .where(i.email.is_not(None), func.coalesce(i.accepted_at, i.expires_at) < cutoff)
        .values(email=None)
        .returning(i.id)
    )
    return len(result.all())


async def erase_decided_request_messages(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Erase the requester's free text of access requests decided before `cutoff` (the
    decision, its author and reason stay). How many."""
    d = DemandeAcces.__table__.c
    result = await session.execute(
        update(DemandeAcces)
        .where(
            d.message.is_not(None),
            d.status != StatutDemande.en_attente.value,
            d.decided_at < cutoff,
        )
        .values(message=None)
        .returning(d.id)
    )
    return len(result.all())


# --- who reads a convention (endpoints_internal.py, for the other services) -----------


class ConventionPersonRow(NamedTuple):
    """One person's grant that reads a convention (one row per such grant)."""

    id: uuid.UUID
    nom: str | None
    email: str | None
    organisation_id: uuid.UUID
    organisation_type: str
    role: str


async def convention_people(
    session: AsyncSession,
    ref: ConventionRef,
    now: dt.datetime,
    *,
    national: bool,
    organisations: Sequence[uuid.UUID] = (),
    roles: Sequence[str] = (),
    persons: Sequence[uuid.UUID] = (),
) -> list[ConventionPersonRow]:
    """The persons holding a grant active at `now` that reads the convention: Caf grants
    on its Caf, collectivité grants on its other signataires, national ones if asked
    (the read scope of kernel.convention_ref.scope_rule, seen from the grants' side)."""
    g = Habilitation.__table__.c
    collectivites = [o for o in ref.signataire_ids if o != ref.caf_id]
    reads = [
        and_(g.organisation_kind == OrganisationKind.caf.value, g.organisation_id == ref.caf_id)
    ]
    if collectivites:
        reads.append(
            and_(
                g.organisation_kind == OrganisationKind.collectivite.value,
                g.organisation_id == func.any(_uuid_array(collectivites)),
            )
        )
    if national:
        reads.append(g.organisation_kind == OrganisationKind.national.value)
    return await people_with_grants(
        session, or_(*reads), now, organisations=organisations, roles=roles, persons=persons
    )


async def people_with_grants(
    session: AsyncSession,
    where: ColumnElement[bool],
    now: dt.datetime,
    *,
    organisations: Sequence[uuid.UUID] = (),
    roles: Sequence[str] = (),
    persons: Sequence[uuid.UUID] = (),
) -> list[ConventionPersonRow]:
    """The persons holding a grant active at `now` that matches `where` and the filters,
    one row per grant. E-mail only when the identity provider verified it."""
    g = Habilitation.__table__.c
    p = Person.__table__.c
    stmt = (
        select(
            p.id,
            p.name,
            case((p.email_verified, p.email), else_=None),
            g.organisation_id,
            g.organisation_kind,
            g.role,
        )
        .select_from(Habilitation.__table__.join(Person.__table__, p.id == g.person_id))
        .where(
            g.status == StatutHabilitation.active.value,
            g.valid_from <= now,
            g.valid_until > now,
            where,
        )
    )
    if organisations:
        stmt = stmt.where(g.organisation_id == func.any(_uuid_array(organisations)))
    if roles:
        stmt = stmt.where(g.role.in_(sorted(set(roles))))
    if persons:
        stmt = stmt.where(p.id == func.any(_uuid_array(persons)))
    stmt = stmt.order_by(p.id, g.organisation_id)
    return [ConventionPersonRow._make(r) for r in await session.execute(stmt)]


class ContactRow(NamedTuple):
    id: uuid.UUID
    nom: str | None
    email: str | None


async def person_contact(session: AsyncSession, person_id: uuid.UUID) -> ContactRow | None:
    """A person's name and verified e-mail, grant or not (the asker of a refused request)."""
    p = Person.__table__.c
    row = (
        await session.execute(
            select(p.id, p.name, case((p.email_verified, p.email), else_=None)).where(
                p.id == person_id
            )
        )
    ).one_or_none()
    return None if row is None else ContactRow._make(row)


async def cafs_of_collectivite(
    session: AsyncSession, organisation_id: uuid.UUID
) -> list[uuid.UUID]:
    """The Cafs of the conventions the collectivité signs (their agents manage its roles)."""
    c = convention_ref.c
    rows = await session.execute(
        select(c.caf_id)
        .where(
            c.signataire_ids.overlap(_uuid_array([organisation_id])), c.caf_id != organisation_id
        )
        .distinct()
        .order_by(c.caf_id)
    )
    return list(rows.scalars())


async def expiring_unannounced(
    session: AsyncSession, now: dt.datetime, first: dt.timedelta, last: dt.timedelta, limit: int
) -> list[tuple[uuid.UUID, dt.datetime, str]]:
    """Active grants ending within `first` of `now` whose notice for the step they are
    at is not recorded: (grant, end date, "J-30" or "J-7"), the soonest first."""
    g = Habilitation
    step = case((g.valid_until <= now + last, literal("J-7")), else_=literal("J-30"))
    recorded = (
        select(AvisExpiration.grant_id)
        .where(
            AvisExpiration.grant_id == g.id,
            AvisExpiration.valid_until == g.valid_until,
            AvisExpiration.etape == step,
        )
        .exists()
    )
    rows = await session.execute(
        select(g.id, g.valid_until, step)
        .where(
            g.status == StatutHabilitation.active.value,
            g.valid_until > now,
            g.valid_until <= now + first,
            ~recorded,
        )
        .order_by(g.valid_until, g.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def add_notice(
    session: AsyncSession,
    grant_id: uuid.UUID,
    valid_until: dt.datetime,
    etape: str,
    at: dt.datetime,
) -> bool:
    """Record a grant's notice; False if it was already (another run recorded it)."""
    inserted = await session.execute(
        insert(AvisExpiration)
        .values(grant_id=grant_id, valid_until=valid_until, etape=etape, at=at)
        .on_conflict_do_nothing()
        .returning(AvisExpiration.grant_id)
    )
    return inserted.first() is not None
