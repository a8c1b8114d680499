"""Every SQL statement of the conventions service."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Date,
    ScalarSelect,
    Select,
    Uuid,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    inspect,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kernel.commit_order import CommitOrder
from kernel.convention_ref import (
    SCOPE_CAFS,
    SCOPE_COLLECTIVITES,
    ReadScope,
    ScopeKind,
    any_sql,
    scope_ids,
    scope_rule,
)
from kernel.database import contains_pattern
from kernel.pagination import after_keyset
from kernel.principal import Principal
from kernel.reads import Keyset, KeysetPage, Read, Slice, columns
from services.conventions.models import (
    Avenant,
    Convention,
    ConventionVersion,
    CopilRow,
    Equipement,
    MiseEnDemeure,
    Organisation,
    ResiliationRow,
    Signataire,
    StatutMiseEnDemeure,
    convention_seq,
)

# The feed's numbers, visible in commit order (kernel.commit_order): a consumer reading
# `after=<seq>` never skips a later-committed lower seq. Its lock's key is "conv", as
# since the first release (a process of the previous release takes the same lock).
FEED = CommitOrder(0x636F6E76, convention_seq)

# Built once: an alias costs a proxy per column, too much to pay on every request.
# The scope test's own signatories (callers join Signataire themselves) and a renewal.
_SIGNED = aliased(Signataire, name="signed")
_SUIVANTE = aliased(Convention, name="suivante")
_CAF = aliased(Organisation, name="caf")


def _caf_nom() -> ScalarSelect[str]:
    """The name of the outer convention's Caf (shown beside `caf_id`)."""
    return select(_CAF.nom).where(_CAF.id == Convention.caf_id).scalar_subquery()


async def organisation_name(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    stmt = select(Organisation.nom).where(Organisation.id == organisation_id)
    return str((await session.execute(stmt)).scalar_one())


async def organisation_names(
    session: AsyncSession, organisation_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names of these organisations, in one statement (a page's parties)."""
    ids = set(organisation_ids)
    if not ids:
        return {}
    stmt = select(Organisation.id, Organisation.nom).where(Organisation.id.in_(ids))
    return {row.id: row.nom for row in await session.execute(stmt)}


# --- organisations -----------------------------------------------------------------------


async def get_organisation(
    session: AsyncSession, org_id: uuid.UUID, *, for_update: bool = False
) -> Organisation | None:
    return await session.get(Organisation, org_id, with_for_update=for_update)


async def get_organisations(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Organisation]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Organisation).where(Organisation.id.in_(wanted)))
    return {o.id: o for o in rows}


async def search_organisations(
    session: AsyncSession,
    *,
    q: str | None,
    type_: str | None,
    departement: str | None,
    epci_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Sequence[Organisation]:
    stmt = select(Organisation)
    if q:
        pattern = contains_pattern(q)
        stmt = stmt.where(
            or_(
                Organisation.nom.ilike(pattern, escape="\\"),
                Organisation.code_insee == q,
                Organisation.siren == q,
                Organisation.code_caf == q,
            )
        )
    if type_:
        stmt = stmt.where(Organisation.type == type_)
    if departement:
        stmt = stmt.where(Organisation.departement == departement)
    if epci_id:
        stmt = stmt.where(Organisation.epci_id == epci_id)
    resume = after_keyset([Organisation.nom, Organisation.id], cursor)
    if resume is not None:
        stmt = stmt.where(resume)
    stmt = stmt.order_by(Organisation.nom, Organisation.id).limit(limit + 1)
    return (await session.scalars(stmt)).all()


async def find_organisation_by_codes(
    session: AsyncSession,
    *,
    code_insee: str | None,
    code_caf: str | None,
    exclude_id: uuid.UUID | None = None,
) -> Organisation | None:
    conditions: list[ColumnElement[bool]] = []
    if code_insee:
        conditions.append(Organisation.code_insee == code_insee)
    if code_caf:
        conditions.append(Organisation.code_caf == code_caf)
    if not conditions:
        return None
    stmt = select(Organisation).where(or_(*conditions))
    if exclude_id is not None:
        stmt = stmt.where(Organisation.id != exclude_id)
    return (await session.scalars(stmt.limit(1))).first()


# What a row may leave out: the columns an organisation may not have, and its version.
_ORGANISATION_DEFAULTS: dict[str, object] = {
    **dict.fromkeys(c.name for c in inspect(Organisation).columns if c.nullable),
    "version": 1,
}


async def insert_organisations(
    session: AsyncSession, rows: Sequence[dict[str, object]], *, skip_existing: bool
) -> int:
    """Insert organisations (columns left out: NULL, version 1); with `skip_existing`,
    ids already present are left alone."""
    if not rows:
        return 0
    stmt = insert(Organisation).values([{**_ORGANISATION_DEFAULTS, **row} for row in rows])
    if skip_existing:
        stmt = stmt.on_conflict_do_nothing()
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def existing_codes(
    session: AsyncSession, codes_insee: Iterable[str], codes_caf: Iterable[str]
) -> tuple[set[str], set[str]]:
    insee = list(set(codes_insee))
    caf = list(set(codes_caf))
    found_insee: set[str] = set()
    found_caf: set[str] = set()
    if insee:
        stmt = select(Organisation.code_insee).where(Organisation.code_insee.in_(insee))
        found_insee = {c for c in (await session.scalars(stmt)).all() if c}
    if caf:
        stmt = select(Organisation.code_caf).where(Organisation.code_caf.in_(caf))
        found_caf = {c for c in (await session.scalars(stmt)).all() if c}
    return found_insee, found_caf


async def epcis_by_siren(session: AsyncSession, sirens: Iterable[str]) -> dict[str, uuid.UUID]:
    wanted = list(set(sirens))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Organisation.siren, Organisation.id).where(
            Organisation.siren.in_(wanted), Organisation.type == "EPCI"
        )
    )
    return {str(siren): oid for siren, oid in rows.all()}


async def member_communes(
    session: AsyncSession, epci_ids: Iterable[uuid.UUID]
) -> Sequence[Organisation]:
    wanted = list(set(epci_ids))
    if not wanted:
        return []
    stmt = select(Organisation).where(Organisation.epci_id.in_(wanted)).order_by(Organisation.nom)
    return (await session.scalars(stmt)).all()


# --- scope -------------------------------------------------------------------------------


def readable(kind: ScopeKind) -> ColumnElement[bool]:
    """The read scope (kernel.convention_ref.scope_rule) on the conventions' own table:
    its Caf, its signatories' rows. The ids are bind parameters (`ReadScope.params`)."""
    return scope_rule(
        kind,
        lambda: Convention.caf_id == any_(scope_ids(SCOPE_CAFS)),
        lambda: exists().where(
            _SIGNED.convention_id == Convention.id,
            _SIGNED.organisation_id == any_(scope_ids(SCOPE_COLLECTIVITES)),
        ),
        any_sql,
        everything=true(),
    )


# Every write and sub-resource read starts with it: built once per scope kind.
_CONVENTION_IN_SCOPE = {
    kind: select(Convention)
    .where(Convention.id == bindparam("convention_id"), readable(kind))
    .execution_options(populate_existing=True)
    for kind in ScopeKind
}


async def get_convention(
    session: AsyncSession,
    convention_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
) -> Convention | None:
    """One convention, if the principal may read it; locked for update (writes on one
    convention are serialised: the ETag check cannot race)."""
    scope = ReadScope.of(principal)
    stmt = _CONVENTION_IN_SCOPE[scope.kind]
    if for_update:
        stmt = stmt.with_for_update(of=Convention)
    params = {"convention_id": convention_id, **scope.params}
    return (await session.scalars(stmt, params)).first()


class SignataireRow(NamedTuple):
    """A signatory, as SignataireOut shows it and the rules read it."""

    organisation_id: uuid.UUID
    type: str
    nom: str
    code_insee: str | None
    siren: str | None
    population: int | None
    representant: str | None
    deliberation_reference: str | None
    deliberation_date: dt.date | None
    date_signature: dt.date | None
    avenant_numero: int | None


class ConventionRow(NamedTuple):
    """A convention, as ConventionOut shows it (with its renewal's id) and the rules read
    it."""

    id: uuid.UUID
    caf_id: uuid.UUID
    caf_nom: str
    echelon: str
    titre: str
    date_debut: dt.date
    date_fin: dt.date
    thematiques: list[str]
    objectifs_partages: list[str]
    # Groups of columns (the model's composites), shown as ConventionOut's nested models.
    copil: CopilRow
    statut: str
    date_signature: dt.date | None
    ctg_existante: bool
    resiliation: ResiliationRow | None
    # (Also in `resiliation`: the state's rules read it here, as on every convention.)
    date_effet_resiliation: dt.date | None
    precedente_id: uuid.UUID | None
    suivante_id: uuid.UUID | None
    numero_version: int
    version: int
    cree_le: dt.datetime
    modifie_le: dt.datetime


class ConventionDetailRow(NamedTuple):
    convention: ConventionRow
    # None: no signatory yet (outer join).
    signataire: SignataireRow | None


def _successor_id() -> ScalarSelect[uuid.UUID]:
    """The renewal of the outer convention, if any (one at most: renouveler checks it)."""
    return (
        select(_SUIVANTE.id)
        .where(_SUIVANTE.precedente_id == Convention.id)
        .limit(1)
        .scalar_subquery()
    )


# A convention, its signatories and its renewal in one statement (a row per signatory).
_DETAIL: Read[ConventionDetailRow, ScopeKind] = Read(
    ConventionDetailRow,
    lambda part: (
        select(
            *columns(
                ConventionDetailRow,
                convention=columns(
                    ConventionRow, Convention, suivante_id=_successor_id(), caf_nom=_caf_nom()
                ),
                signataire=columns(SignataireRow, Organisation, Signataire),
            )
        )
        .select_from(Convention)
        .outerjoin(Signataire, Signataire.convention_id == Convention.id)
        .outerjoin(Organisation, Organisation.id == Signataire.organisation_id)
        .where(Convention.id == bindparam("convention_id"), readable(part.variant))
        .order_by(Signataire.ordre, Organisation.nom)
    ),
    variants=ScopeKind,
)


async def get_convention_detail(
    session: AsyncSession, convention_id: uuid.UUID, principal: Principal
) -> tuple[ConventionRow, list[SignataireRow]] | None:
    """A readable convention with its signatories (in their order) and its renewal's id:
    one statement."""
    scope = ReadScope.of(principal)
    params = {"convention_id": convention_id, **scope.params}
    rows = await _DETAIL.all(session, scope.kind, params)
    if not rows:
        return None
    return rows[0].convention, [r.signataire for r in rows if r.signataire is not None]


class ConventionListed(NamedTuple):
    """What a page of the list shows of a convention (ConventionSummary), and what its
    state and transitions depend on."""

    id: uuid.UUID
    caf_id: uuid.UUID
    caf_nom: str
    echelon: str
    titre: str
    date_debut: dt.date
    date_fin: dt.date
    statut: str
    date_effet_resiliation: dt.date | None
    thematiques: list[str]
    renouvelee: bool


CONVENTIONS: Read[ConventionListed, ScopeKind] = Read(
    ConventionListed,
    lambda part: part.apply(
        select(
            *columns(
                ConventionListed,
                Convention,
                caf_nom=_caf_nom(),
                renouvelee=exists().where(_SUIVANTE.precedente_id == Convention.id),
            )
        ).where(readable(part.variant))
    ),
    variants=ScopeKind,
    filters={
        "caf_id": lambda value: Convention.caf_id == value,
        "organisation_id": lambda value: exists().where(
            Signataire.convention_id == Convention.id, Signataire.organisation_id == value
        ),
        "statut": lambda value: Convention.statut == value,
        "pattern": lambda value: Convention.titre.ilike(value, escape="\\"),
    },
    keyset=Keyset((Convention.titre, Convention.id)),
)


async def list_conventions(
    session: AsyncSession,
    principal: Principal,
    *,
    caf_id: uuid.UUID | None,
    organisation_id: uuid.UUID | None,
    statut: str | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> KeysetPage[ConventionListed]:
    """A page of readable conventions, by title."""
    scope = ReadScope.of(principal)
    params = {
        "caf_id": caf_id,
        "organisation_id": organisation_id,
        "statut": statut,
        "pattern": contains_pattern(q) if q else None,
        **scope.params,
    }
    return await CONVENTIONS.page(session, scope.kind, params, limit=limit, cursor=cursor)


async def successors(
    session: AsyncSession, convention_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    wanted = list(set(convention_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Convention.precedente_id, Convention.id).where(Convention.precedente_id.in_(wanted))
    )
    return {prev: cid for prev, cid in rows.all() if prev is not None}


async def add(session: AsyncSession, *objects: object) -> None:
    session.add_all(objects)
    await session.flush()


async def next_seq(session: AsyncSession) -> int:
    return await FEED.next(session)


async def renamed(session: AsyncSession, organisation_id: uuid.UUID) -> None:
    """An organisation's name changed: every convention naming it (its Caf, a signataire)
    gets a new change number, so that each replica reads the name again (the feed's
    `noms`), and a new version: the names are part of its representation, so of its
    ETag (no 304 keeps the old name; docs/api.md)."""
    await FEED.hold(session)
    signed = select(Signataire.convention_id).where(Signataire.organisation_id == organisation_id)
    await session.execute(
        update(Convention)
        .where((Convention.caf_id == organisation_id) | Convention.id.in_(signed))
        .values(seq=FEED.next_value(), version=Convention.version + 1)
        .execution_options(synchronize_session=False)
    )


async def touch(session: AsyncSession, convention: Convention) -> None:
    """Record a change: new ETag version and a new feed sequence number."""
    convention.seq = await next_seq(session)
    convention.version = (convention.version or 0) + 1
    convention.modifie_le = func.now()
    await session.flush()
    await session.refresh(convention, ["modifie_le"])


# --- signataires -------------------------------------------------------------------------


class ConventionSignataire(NamedTuple):
    convention_id: uuid.UUID
    signataire: SignataireRow


_SIGNATAIRES: Read[ConventionSignataire, None] = Read(
    ConventionSignataire,
    lambda part: (
        select(
            *columns(
                ConventionSignataire,
                Signataire,
                signataire=columns(SignataireRow, Organisation, Signataire),
            )
        )
        .join(Organisation, Organisation.id == Signataire.organisation_id)
        .where(Signataire.convention_id == any_(bindparam("convention_ids", type_=ARRAY(Uuid))))
        .order_by(Signataire.convention_id, Signataire.ordre, Organisation.nom)
    ),
    variants=(None,),
)


async def signataires_of(
    session: AsyncSession, convention_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[SignataireRow]]:
    """The signatories of each convention, in their order."""
    wanted = sorted(set(convention_ids))
    out: dict[uuid.UUID, list[SignataireRow]] = {c: [] for c in wanted}
    if wanted:
        for row in await _SIGNATAIRES.all(session, None, {"convention_ids": wanted}):
            out[row.convention_id].append(row.signataire)
    return out


async def signataires_of_convention(
    session: AsyncSession, convention_id: uuid.UUID
) -> list[SignataireRow]:
    """One convention's signatories, in their order (`signataires_of` for one)."""
    return (await signataires_of(session, [convention_id]))[convention_id]


async def get_signataire(
    session: AsyncSession, convention_id: uuid.UUID, organisation_id: uuid.UUID
) -> Signataire | None:
    return (
        await session.scalars(
            select(Signataire).where(
                Signataire.convention_id == convention_id,
                Signataire.organisation_id == organisation_id,
            )
        )
    ).first()


async def delete(session: AsyncSession, obj: object) -> None:
    await session.delete(obj)
    await session.flush()


# --- équipements, avenants, versions, history --------------------------------------------


async def equipements_of(session: AsyncSession, convention_id: uuid.UUID) -> Sequence[Equipement]:
    stmt = (
        select(Equipement)
        .where(Equipement.convention_id == convention_id)
        .order_by(Equipement.organisation_id, Equipement.type, Equipement.nom, Equipement.id)
    )
    return (await session.scalars(stmt)).all()


async def get_equipement(
    session: AsyncSession, convention_id: uuid.UUID, equipement_id: uuid.UUID
) -> Equipement | None:
    stmt = select(Equipement).where(
        Equipement.id == equipement_id, Equipement.convention_id == convention_id
    )
    return (await session.scalars(stmt)).first()


async def avenants_of(session: AsyncSession, convention_id: uuid.UUID) -> Sequence[Avenant]:
    stmt = select(Avenant).where(Avenant.convention_id == convention_id).order_by(Avenant.numero)
    return (await session.scalars(stmt)).all()


class VersionListed(NamedTuple):
    """A version of the text (VersionSummary)."""

    numero: int
    avenant_id: uuid.UUID | None
    cree_le: dt.datetime


_VERSIONS: Read[VersionListed, None] = Read(
    VersionListed,
    lambda part: (
        select(*columns(VersionListed, ConventionVersion))
        .where(ConventionVersion.convention_id == bindparam("convention_id"))
        .order_by(ConventionVersion.numero)
    ),
    variants=(None,),
)


async def versions_of(session: AsyncSession, convention_id: uuid.UUID) -> list[VersionListed]:
    return await _VERSIONS.all(session, None, {"convention_id": convention_id})


async def get_version(
    session: AsyncSession, convention_id: uuid.UUID, numero: int
) -> ConventionVersion | None:
    return await session.get(ConventionVersion, (convention_id, numero))


async def mises_en_demeure_of(
    session: AsyncSession, convention_id: uuid.UUID
) -> Sequence[MiseEnDemeure]:
    stmt = (
        select(MiseEnDemeure)
        .where(MiseEnDemeure.convention_id == convention_id)
        .order_by(MiseEnDemeure.date_envoi, MiseEnDemeure.cree_le, MiseEnDemeure.id)
    )
    return (await session.scalars(stmt)).all()


async def get_mise_en_demeure(
    session: AsyncSession, convention_id: uuid.UUID, mise_en_demeure_id: uuid.UUID
) -> MiseEnDemeure | None:
    stmt = select(MiseEnDemeure).where(
        MiseEnDemeure.id == mise_en_demeure_id, MiseEnDemeure.convention_id == convention_id
    )
    return (await session.scalars(stmt)).first()


async def close_mises_en_demeure(
    session: AsyncSession, convention_id: uuid.UUID, statut: str, day: dt.date
) -> None:
    """Close every pending mise en demeure of the convention (after flushing the ones the
    session changed, so that those keep what they were given)."""
    await session.flush()
    await session.execute(
        update(MiseEnDemeure)
        .where(
            MiseEnDemeure.convention_id == convention_id,
            MiseEnDemeure.statut == StatutMiseEnDemeure.en_cours,
        )
        .values(statut=statut, date_cloture=day)
        .execution_options(synchronize_session=False)
    )


# --- internal feed -----------------------------------------------------------------------


class ReferenceRow(NamedTuple):
    """What the internal feed tells of a convention (kernel.convention_ref.ConventionRef)."""

    id: uuid.UUID
    caf_id: uuid.UUID
    titre: str
    echelon: str
    statut: str
    date_debut: dt.date
    date_fin: dt.date
    date_effet_resiliation: dt.date | None
    signataire_ids: list[uuid.UUID]
    seq: int
    suivie_depuis: dt.date | None
    noms: dict[str, str]


def _references(part: Slice[None]) -> Select[Any]:
    signataire_ids = (
        select(func.coalesce(func.array_agg(Signataire.organisation_id), literal([], ARRAY(Uuid))))
        .where(Signataire.convention_id == Convention.id)
        .scalar_subquery()
    )
    # The names of its Caf and signataires (a rename of one gives the convention a new
    # change number: `rename_touches`).
    noms = (
        select(
            func.coalesce(
                func.jsonb_object_agg(Organisation.id, Organisation.nom), literal({}, JSONB)
            )
        )
        .where(
            (Organisation.id == Convention.caf_id)
            | Organisation.id.in_(
                select(Signataire.organisation_id)
                .where(Signataire.convention_id == Convention.id)
                # The outer statement's convention (two levels up).
                .correlate(Convention)
            )
        )
        .scalar_subquery()
    )
    # A CTG signed before the product is followed from the day it was recorded (UTC).
    suivie_depuis = case(
        (Convention.ctg_existante, cast(func.timezone("UTC", Convention.cree_le), Date))
    )
    return part.apply(
        select(
            *columns(
                ReferenceRow,
                Convention,
                signataire_ids=signataire_ids,
                suivie_depuis=suivie_depuis,
                noms=noms,
            )
        )
    )


# The feed, ordered by change number; one convention by its id.
_FEED: Read[ReferenceRow, None] = Read(
    ReferenceRow, _references, variants=(None,), keyset=Keyset((Convention.seq,))
)
_REFERENCE: Read[ReferenceRow, None] = Read(
    ReferenceRow,
    lambda part: _references(part).where(Convention.id == bindparam("convention_id")),
    variants=(None,),
)


async def references_after(session: AsyncSession, after: int, limit: int) -> list[ReferenceRow]:
    return (await _FEED.page(session, None, {}, limit=limit, after=(after,))).rows


async def reference(session: AsyncSession, convention_id: uuid.UUID) -> ReferenceRow | None:
    return await _REFERENCE.first(session, None, {"convention_id": convention_id})


class AccesRow(NamedTuple):
    """A convention the principal may read, with what decides its right on it."""

    id: uuid.UUID
    ecriture: bool
    contribution: bool


def _accessible(part: Slice[ScopeKind]) -> Select[Any]:
    # Its Cafs where it writes, the collectivités where it contributes: arrays, maybe empty.
    caf_writer = Convention.caf_id == any_(scope_ids("caf_writes"))
    contributor = exists().where(
        Signataire.convention_id == Convention.id,
        Signataire.organisation_id == any_(scope_ids("contributes")),
    )
    return part.apply(
        select(*columns(AccesRow, Convention, ecriture=caf_writer, contribution=contributor)).where(
            readable(part.variant)
        )
    )


_ACCES: Read[AccesRow, ScopeKind] = Read(
    AccesRow, _accessible, variants=ScopeKind, keyset=Keyset((Convention.id,))
)


async def accessible(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> KeysetPage[AccesRow]:
    """Conventions the principal may read, with what decides its right on each."""
    scope = ReadScope.of(principal)
    params = {
        **scope.params,
        "caf_writes": sorted(principal.caf_write_ids()),
        "contributes": sorted(principal.collectivite_write_ids()),
    }
    return await _ACCES.page(session, scope.kind, params, limit=limit, cursor=cursor)
