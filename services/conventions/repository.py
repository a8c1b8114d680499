"""Every SQL statement of the conventions service."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Uuid,
    any_,
    bindparam,
    exists,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kernel.convention_ref import ScopeShape, scope_param, scope_params
from kernel.database import CompiledQuery, attribute_rows, contains_pattern
from kernel.pagination import KeyColumn, after_keyset, after_keyset_params, keyset_params
from kernel.principal import Principal
from services.conventions.models import (
    Avenant,
    Convention,
    ConventionVersion,
    Equipement,
    MiseEnDemeure,
    Organisation,
    Signataire,
    StatutMiseEnDemeure,
    convention_seq,
)

# Serialises the allocation of feed sequence numbers with the commit that publishes
# them, so that a consumer reading `after=<seq>` never skips a later-committed lower seq.
_FEED_LOCK_KEY = 0x636F6E76  # "conv"

# Built once: an alias costs a proxy per column, too much to pay on every request.
# The scope test's own signatories (callers join Signataire themselves) and a renewal.
_SIGNED = aliased(Signataire, name="signed")
_SUIVANTE = aliased(Convention, name="suivante")


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
_ORGANISATION_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(c.name for c in inspect(Organisation).columns if c.nullable),
    "version": 1,
}


async def insert_organisations(
    session: AsyncSession, rows: Sequence[dict[str, Any]], *, skip_existing: bool
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


def _readable_shape(
    shape: ScopeShape, values: dict[str, list[uuid.UUID]] | None = None
) -> ColumnElement[bool]:
    """Conventions a principal of this shape may read (same rule as
    kernel.convention_ref.readable_shape_clause); values: `scope_params`."""
    if shape.national:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if shape.cafs:
        conditions.append(Convention.caf_id == any_(scope_param("scope_cafs", values)))
    if shape.collectivites:
        conditions.append(
            exists().where(
                _SIGNED.convention_id == Convention.id,
                _SIGNED.organisation_id == any_(scope_param("scope_collectivites", values)),
            )
        )
    return or_(*conditions) if conditions else false()


def readable(principal: Principal) -> ColumnElement[bool]:
    """Conventions the principal may read, in SQL, its values bound in."""
    return _readable_shape(ScopeShape.of(principal), scope_params(principal))


def _successor_id() -> Any:
    """The renewal of the outer convention, if any (one at most: renouveler checks it)."""
    return (
        select(_SUIVANTE.id)
        .where(_SUIVANTE.precedente_id == Convention.id)
        .limit(1)
        .scalar_subquery()
    )


@functools.lru_cache(maxsize=8)
def _convention_statement(shape: ScopeShape, for_update: bool) -> Select[Convention]:
    # Built once per scope shape: every write and sub-resource read starts with it.
    stmt = select(Convention).where(
        Convention.id == bindparam("convention_id"), _readable_shape(shape)
    )
    if for_update:
        # Writes on one convention are serialised: the ETag check cannot race.
        stmt = stmt.with_for_update(of=Convention)
    return stmt.execution_options(populate_existing=True)


async def get_convention(
    session: AsyncSession,
    convention_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
) -> Convention | None:
    """One convention, if the principal may read it."""
    stmt = _convention_statement(ScopeShape.of(principal), for_update)
    params = {"convention_id": convention_id, **scope_params(principal)}
    return (await session.scalars(stmt, params)).first()


def _attribute_columns(model: Any) -> tuple[list[str], list[Any]]:
    attrs = model.__mapper__.column_attrs
    return [a.key for a in attrs], [a.columns[0] for a in attrs]


@functools.lru_cache(maxsize=8)
def _detail_query(shape: ScopeShape) -> tuple[CompiledQuery, list[list[str]]]:
    # Built and compiled once per scope shape: a convention, its signatories and their
    # organisations, and its renewal, as plain columns (no ORM instances to build).
    conv, sig, org = (_attribute_columns(m) for m in (Convention, Signataire, Organisation))
    stmt = (
        select(*conv[1], *sig[1], *org[1], _successor_id())
        .select_from(Convention)
        .outerjoin(Signataire, Signataire.convention_id == Convention.id)
        .outerjoin(Organisation, Organisation.id == Signataire.organisation_id)
        .where(Convention.id == bindparam("convention_id"), _readable_shape(shape))
        .order_by(Signataire.ordre, Organisation.nom)
    )
    return CompiledQuery(stmt), [conv[0], sig[0], org[0]]


async def get_convention_detail(
    session: AsyncSession, convention_id: uuid.UUID, principal: Principal
) -> tuple[Any, list[tuple[Any, Any]], uuid.UUID | None] | None:
    """A readable convention with its signatories and its renewal: one statement. Read-only
    rows with the attributes of Convention, (Signataire, Organisation) and the renewal's id."""
    query, (conv_keys, sig_keys, org_keys) = _detail_query(ScopeShape.of(principal))
    params = {"convention_id": convention_id, **scope_params(principal)}
    rows = await query.fetch(session, params)
    if not rows:
        return None
    signataires = [
        (sig, org)
        for sig, org in (attribute_rows(r[len(conv_keys) :], sig_keys, org_keys) for r in rows)
        if org is not None  # outer join: no signatory yet
    ]
    first = rows[0]
    (convention,) = attribute_rows(first, conv_keys)
    return convention, signataires, first[-1]


_LIST_KEYSET: list[KeyColumn] = [Convention.titre, Convention.id]


# What a page of the list shows of each convention, and what its transitions depend on.
_LISTED = (
    Convention.id,
    Convention.caf_id,
    Convention.echelon,
    Convention.titre,
    Convention.date_debut,
    Convention.date_fin,
    Convention.statut,
    Convention.date_effet_resiliation,
    Convention.thematiques,
)
LISTED_KEYS = tuple(c.key for c in _LISTED)


@functools.lru_cache(maxsize=256)
def _list_statement(
    shape: ScopeShape, caf: bool, organisation: bool, statut: bool, q: bool, resume: bool
) -> CompiledQuery:
    # Built and compiled once per shape of request (scope, filters used, first page or
    # not), the values as bind parameters: building and executing it through the ORM
    # cost several times what PostgreSQL took to answer.
    renewed = exists().where(_SUIVANTE.precedente_id == Convention.id).label("renouvelee")
    stmt = select(*_LISTED, renewed).where(_readable_shape(shape))
    if caf:
        stmt = stmt.where(Convention.caf_id == bindparam("caf_id"))
    if organisation:
        stmt = stmt.where(
            exists().where(
                Signataire.convention_id == Convention.id,
                Signataire.organisation_id == bindparam("organisation_id"),
            )
        )
    if statut:
        stmt = stmt.where(Convention.statut == bindparam("statut"))
    if q:
        stmt = stmt.where(Convention.titre.ilike(bindparam("pattern"), escape="\\"))
    if resume:
        stmt = stmt.where(after_keyset_params(_LIST_KEYSET))
    return CompiledQuery(stmt.order_by(*_LIST_KEYSET).limit(bindparam("limit")))


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
) -> list[tuple[Any, bool]]:
    """A page of readable conventions (read-only rows with the attributes of
    `LISTED_KEYS`), each with whether it has been renewed."""
    params: dict[str, Any] = {
        "caf_id": caf_id,
        "organisation_id": organisation_id,
        "statut": statut,
        "limit": limit + 1,
        **scope_params(principal),
    }
    if q:
        params["pattern"] = contains_pattern(q)
    if cursor is not None:
        params.update(keyset_params(cursor, _LIST_KEYSET))
    stmt = _list_statement(
        ScopeShape.of(principal),
        caf_id is not None,
        organisation_id is not None,
        statut is not None,
        bool(q),
        cursor is not None,
    )
    return [
        (attribute_rows(r, LISTED_KEYS)[0], bool(r["renouvelee"]))
        for r in await stmt.fetch(session, params)
    ]


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
    await session.execute(select(func.pg_advisory_xact_lock(_FEED_LOCK_KEY)))
    return int((await session.execute(select(convention_seq.next_value()))).scalar_one())


async def touch(session: AsyncSession, convention: Convention) -> None:
    """Record a change: new ETag version and a new feed sequence number."""
    convention.seq = await next_seq(session)
    convention.version = (convention.version or 0) + 1
    convention.modifie_le = func.now()
    await session.flush()
    await session.refresh(convention, ["modifie_le"])


# --- signataires -------------------------------------------------------------------------


async def signataires_of(
    session: AsyncSession, convention_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[Signataire, Organisation]]]:
    wanted = list(set(convention_ids))
    out: dict[uuid.UUID, list[tuple[Signataire, Organisation]]] = {c: [] for c in wanted}
    if not wanted:
        return out
    rows = await session.execute(
        select(Signataire, Organisation)
        .join(Organisation, Organisation.id == Signataire.organisation_id)
        .where(Signataire.convention_id.in_(wanted))
        .order_by(Signataire.convention_id, Signataire.ordre, Organisation.nom)
    )
    for sig, org in rows.all():
        out[sig.convention_id].append((sig, org))
    return out


async def signataires_of_convention(
    session: AsyncSession, convention_id: uuid.UUID
) -> list[tuple[Signataire, Organisation]]:
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


async def versions_of(session: AsyncSession, convention_id: uuid.UUID) -> Sequence[Any]:
    stmt = (
        select(ConventionVersion.numero, ConventionVersion.avenant_id, ConventionVersion.cree_le)
        .where(ConventionVersion.convention_id == convention_id)
        .order_by(ConventionVersion.numero)
    )
    return (await session.execute(stmt)).all()


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


def _reference_select() -> Select[Any]:
    signataire_ids = (
        select(func.coalesce(func.array_agg(Signataire.organisation_id), literal([], ARRAY(Uuid))))
        .where(Signataire.convention_id == Convention.id)
        .scalar_subquery()
    )
    return select(
        Convention.id,
        Convention.caf_id,
        Convention.titre,
        Convention.echelon,
        Convention.statut,
        Convention.date_debut,
        Convention.date_fin,
        Convention.date_effet_resiliation,
        signataire_ids.label("signataire_ids"),
        Convention.seq,
    )


async def references_after(session: AsyncSession, after: int, limit: int) -> Sequence[Any]:
    stmt = _reference_select().where(Convention.seq > after).order_by(Convention.seq).limit(limit)
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    return rows


async def reference(session: AsyncSession, convention_id: uuid.UUID) -> Any:
    stmt = _reference_select().where(Convention.id == convention_id)
    return (await session.execute(stmt)).first()


async def accessible(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Sequence[Any]:
    """Conventions the principal may read, with what decides its right on each."""
    writes = principal.caf_write_ids()
    contributes = principal.collectivite_write_ids()
    caf_writer: ColumnElement[bool] = Convention.caf_id.in_(writes) if writes else false()
    contributor: ColumnElement[bool] = (
        exists().where(
            Signataire.convention_id == Convention.id,
            Signataire.organisation_id.in_(contributes),
        )
        if contributes
        else false()
    )
    stmt = select(
        Convention.id, caf_writer.label("ecriture"), contributor.label("contribution")
    ).where(readable(principal))
    resume = after_keyset([Convention.id], cursor)
    if resume is not None:
        stmt = stmt.where(resume)
    return (await session.execute(stmt.order_by(Convention.id).limit(limit + 1))).all()
