"""How the other apps know the conventions: a replica of their reference data.

The conventions service owns conventions. Actions, documents and the gateway each
keep a small read-only replica (`convention_ref` table in their own schema) of what
they need to scope queries and check rules: the Caf, the signatory organisations,
the dates and the lifecycle status. It is fed from the conventions service's
internal feed ``GET /internal/v1/conventions/references?after=<seq>`` (ordered by a
change sequence number), polled every few seconds, and refreshed
on demand by id (``GET /internal/v1/conventions/{id}/reference``) when a request
names a convention the replica does not know yet, or before a write that depends on
the convention's state. The polling is each app's periodic job (`sync_job`), run by
`coop worker` once per interval across all processes.

Scope is then enforced in each service's own SQL (`readable_replica`), one round trip.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import (
    BigInteger,
    BindParameter,
    Column,
    ColumnElement,
    Date,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    any_,
    bindparam,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import QueryableAttribute

from kernel.errors import NotFound
from kernel.internal_token import InternalTokenSigner, read_internal
from kernel.jobs import JobResources, PeriodicJob
from kernel.principal import Principal

_log = logging.getLogger("coop.convention_ref")
REFERENCES_PATH = "/internal/v1/conventions/references"
ORGANISATIONS_PATH = "/internal/v1/organisations"
ORGANISATIONS_PER_CALL = 500
CONVENTIONS_AUDIENCE = "conventions"


class StatutConvention(StrEnum):
    """Le statut enregistré dans le cycle de vie de la convention."""

    en_preparation = "en préparation"
    signee = "signée"
    resiliee = "résiliée"


class EtatConvention(StrEnum):
    """Effective state at a date, derived from the status and the dates."""

    en_preparation = "en préparation"
    signee = "signée"  # signed, not started yet
    active = "active"
    echue = "échue"
    resiliee = "résiliée"


class ConventionRef(BaseModel):
    """Ce que les autres services de la suite savent d'une convention (le flux de références)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    caf_id: uuid.UUID
    titre: str
    echelon: str
    statut: StatutConvention
    date_debut: dt.date
    date_fin: dt.date
    # Set when a résiliation is recorded: the day engagements stop.
    date_effet_resiliation: dt.date | None = None
    # Every signatory organisation, the Caf included.
    signataire_ids: tuple[uuid.UUID, ...] = ()
    seq: int
    # A CTG signed before the product and recorded after the fact (`ctg_existante`): the
    # day it was recorded. What fell due before was owed outside the product.
    suivie_depuis: dt.date | None = None
    # The names of its Caf and of each signataire, by id: what every app shows beside
    # the ids it stores (porteurs, the Caf, a document's organisation) without asking
    # the conventions service per row. A rename gives the conventions a new `seq`.
    noms: dict[uuid.UUID, str] = Field(default_factory=dict)

    def etat(self, today: dt.date) -> EtatConvention:
        return etat_convention(
            self.statut, self.date_debut, self.date_fin, self.date_effet_resiliation, today
        )

    def readable_by(self, principal: Principal) -> bool:
        """The read scope (`scope_rule`), for this convention."""
        return ReadScope.of(principal).reads(self.caf_id, self.signataire_ids)

    def accepts_new_work(self, today: dt.date) -> bool:
        """Actions, suivis and documents may only be added while this holds."""
        return self.etat(today) in {
            EtatConvention.en_preparation,
            EtatConvention.signee,
            EtatConvention.active,
        }


def etat_convention(
    statut: StatutConvention,
    date_debut: dt.date,
    date_fin: dt.date,
    date_effet_resiliation: dt.date | None,
    today: dt.date,
) -> EtatConvention:
    if statut is StatutConvention.en_preparation:
        return EtatConvention.en_preparation
    if date_effet_resiliation is not None and date_effet_resiliation <= today:
        return EtatConvention.resiliee
    if today > date_fin:
        return EtatConvention.echue
    if today < date_debut:
        return EtatConvention.signee
    return EtatConvention.active


class ReferencesPage(BaseModel):
    items: list[ConventionRef]


class OrganisationName(BaseModel):
    """What other apps read of an organisation (``/internal/v1/organisations``): its
    name, and its codes (an imported plan names its porteurs by SIREN or INSEE code)."""

    id: uuid.UUID
    nom: str
    siren: str | None = None
    code_insee: str | None = None


OrganisationNames = TypeAdapter(list[OrganisationName])


def convention_ref_table(metadata: MetaData) -> Table:
    """The replica table, created in the calling service's schema and migrations."""
    return Table(
        "convention_ref",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("caf_id", Uuid, nullable=False, index=True),
        Column("titre", String(300), nullable=False),
        Column("echelon", String(40), nullable=False),
        Column("statut", String(40), nullable=False),
        Column("date_debut", Date, nullable=False),
        Column("date_fin", Date, nullable=False),
        Column("date_effet_resiliation", Date, nullable=True),
        Column("signataire_ids", ARRAY(Uuid), nullable=False),
        Column("seq", BigInteger, nullable=False, index=True),
        Column("suivie_depuis", Date, nullable=True),
        Column("noms", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Index(None, "signataire_ids", postgresql_using="gin"),
    )


def row_to_ref(row: object) -> ConventionRef:
    return ConventionRef.model_validate(row, from_attributes=True)


class ScopeKind(Enum):
    """What a principal's read scope is made of, without its ids: the named variants a
    scoped statement is built for (once each, the ids travelling as the parameters of
    `ReadScope.params`)."""

    national = "national"
    caf = "caf"
    collectivite = "collectivite"
    caf_et_collectivite = "caf_et_collectivite"
    aucune = "aucune"

    @property
    def by_caf(self) -> bool:
        return self in (ScopeKind.caf, ScopeKind.caf_et_collectivite)

    @property
    def by_signature(self) -> bool:
        return self in (ScopeKind.collectivite, ScopeKind.caf_et_collectivite)

    @classmethod
    def of(cls, cafs: bool, collectivites: bool) -> ScopeKind:
        if cafs:
            return cls.caf_et_collectivite if collectivites else cls.caf
        return cls.collectivite if collectivites else cls.aucune


@dataclass(frozen=True, slots=True)
class ReadScope:
    """The conventions a principal may read, from its grants (DOMAIN.md): national readers
    all of them, Caf roles those of their Caf, collectivité roles those their
    collectivité signs. `scope_rule` spells the rule; every reader of conventions (SQL
    on the replica, SQL on the conventions' own table, a convention in hand) asks it."""

    kind: ScopeKind
    caf_ids: frozenset[uuid.UUID]
    collectivite_ids: frozenset[uuid.UUID]

    @classmethod
    def of(cls, principal: Principal) -> ReadScope:
        if principal.is_national:
            return cls(ScopeKind.national, frozenset(), frozenset())
        cafs, collectivites = principal.caf_ids(), principal.collectivite_ids()
        kind = ScopeKind.of(bool(cafs), bool(collectivites))
        return cls(kind, frozenset(cafs), frozenset(collectivites))

    @property
    def params(self) -> dict[str, list[uuid.UUID]]:
        """The bind parameters of the scope's SQL (one array each)."""
        return {
            SCOPE_CAFS: sorted(self.caf_ids),
            SCOPE_COLLECTIVITES: sorted(self.collectivite_ids),
        }

    def reads(self, caf_id: uuid.UUID, signataire_ids: Iterable[uuid.UUID]) -> bool:
        """The rule, for a convention in hand."""
        return scope_rule(
            self.kind,
            lambda: caf_id in self.caf_ids,
            lambda: not self.collectivite_ids.isdisjoint(signataire_ids),
            any,
            everything=True,
        )


SCOPE_CAFS = "scope_cafs"
SCOPE_COLLECTIVITES = "scope_collectivites"
T = TypeVar("T")


def scope_rule(
    kind: ScopeKind,
    caf_is_theirs: Callable[[], T],
    signed_by_theirs: Callable[[], T],
    any_of: Callable[[list[T]], T],
    *,
    everything: T,
) -> T:
    """The read scope, spelled once: everything for national readers; else the
    conventions of the principal's Cafs, or signed by its collectivités (either, for a
    principal holding both kinds of grant; nothing without a grant). Each kind of reader
    gives what its terms are: SQL on a table, a test on a convention in hand."""
    if kind is ScopeKind.national:
        return everything
    terms: list[T] = []
    if kind.by_caf:
        terms.append(caf_is_theirs())
    if kind.by_signature:
        terms.append(signed_by_theirs())
    return any_of(terms)


def any_sql(terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """`scope_rule`'s `any_of` in SQL: OR, and false for no term at all."""
    return or_(*terms) if terms else false()


def scope_ids(name: str) -> BindParameter[Sequence[uuid.UUID]]:
    """One of the scope's id arrays, a bind parameter (`ReadScope.params`): a statement's
    text (and its prepared plan) does not vary with the number of ids, as an expanding
    IN list would."""
    return bindparam(name, type_=ARRAY(Uuid[uuid.UUID]()))


def readable_replica(table: Table, kind: ScopeKind) -> ColumnElement[bool]:
    """The read scope on a table of convention references (the replicas): its Caf, its
    signatories' array."""
    return scope_rule(
        kind,
        lambda: table.c.caf_id == any_(scope_ids(SCOPE_CAFS)),
        lambda: table.c.signataire_ids.overlap(scope_ids(SCOPE_COLLECTIVITES)),
        any_sql,
        everything=true(),
    )


# An organisation's id in a statement: a column, or an ORM model's attribute.
OrganisationColumn = ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID]


def name_of(table: Table, organisation_id: OrganisationColumn) -> ColumnElement[str | None]:
    """The name of one organisation of the convention (its Caf, a signataire), from the
    replica's `noms`: NULL for an id the convention does not name."""
    return name_in(table.c.noms, organisation_id)


def name_in(
    noms: ColumnElement[dict[str, str]], organisation_id: OrganisationColumn
) -> ColumnElement[str | None]:
    """`name_of`, from a `noms` column carried elsewhere (a subquery's)."""
    return noms.op("->>")(cast(organisation_id, String))


def names_of(
    table: Table, organisation_ids: ColumnElement[list[uuid.UUID]]
) -> ColumnElement[list[str | None]]:
    """`name_of` each id of an array, in the array's order (porteurs)."""
    each = func.unnest(organisation_ids).table_valued("id", with_ordinality="n").render_derived()
    named = func.array_agg(aggregate_order_by(name_of(table, each.c.id), each.c.n))
    return func.coalesce(
        select(named).select_from(each).scalar_subquery(), literal([], ARRAY(String))
    )


async def upsert_refs(session: AsyncSession, table: Table, refs: Iterable[ConventionRef]) -> int:
    rows = [
        {
            **ref.model_dump(),
            "statut": ref.statut.value,
            "signataire_ids": list(ref.signataire_ids),
            "noms": {str(k): v for k, v in ref.noms.items()},
        }
        for ref in refs
    ]
    if not rows:
        return 0
    stmt = insert(table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name != "id"},
        where=table.c.seq <= stmt.excluded.seq,
    )
    await session.execute(stmt)
    return len(rows)


class ConventionRefClient:
    """Reads the conventions service's internal feed on behalf of one app."""

    def __init__(self, http: httpx.AsyncClient, signer: InternalTokenSigner, base_url: str) -> None:
        self._http = http
        self._signer = signer
        self._base = base_url.rstrip("/")

    async def _get(
        self,
        path: str,
        params: dict[str, int] | dict[str, str] | None,
        consequence: str,
        accept: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        return await read_internal(
            self._http,
            self._base + path,
            self._signer,
            CONVENTIONS_AUDIENCE,
            params,
            service="Service des conventions",
            consequence=consequence,
            accept=accept,
        )

    async def organisation_names(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of organisations (a convention's signataires, an action's porteurs),
        from the conventions service's registry; an id it does not know is left out."""
        return {i: org.nom for i, org in (await self.organisations(ids)).items()}

    async def organisations(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, OrganisationName]:
        """Names and codes of organisations from the conventions service's registry; an
        id it does not know is left out. 503 when it does not answer."""
        wanted = sorted(set(ids))
        found: dict[uuid.UUID, OrganisationName] = {}
        # The internal route takes at most ORGANISATIONS_PER_CALL ids at once.
        for start in range(0, len(wanted), ORGANISATIONS_PER_CALL):
            part = ",".join(str(i) for i in wanted[start : start + ORGANISATIONS_PER_CALL])
            resp = await self._get(
                ORGANISATIONS_PATH,
                {"ids": part},
                "les noms des organisations ne peuvent pas être lus.",
            )
            found.update((item.id, item) for item in OrganisationNames.validate_json(resp.content))
        return found

    async def changes_after(self, seq: int, limit: int = 500) -> list[ConventionRef]:
        resp = await self._get(
            REFERENCES_PATH,
            {"after": seq, "limit": limit},
            "les conventions ne peuvent pas être relues.",
        )
        return ReferencesPage.model_validate_json(resp.content).items

    async def fetch(self, convention_id: uuid.UUID) -> ConventionRef | None:
        resp = await self._get(
            f"/internal/v1/conventions/{convention_id}/reference",
            None,
            "la convention ne peut pas être lue.",
            accept=(200, 404),
        )
        if resp.status_code == 404:
            return None
        return ConventionRef.model_validate_json(resp.content)


class ConventionRefReplica:
    """One app's replica: background catch-up plus on-demand refresh by id."""

    def __init__(
        self,
        table: Table,
        client: ConventionRefClient,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.table = table
        self.client = client
        self._sessionmaker = sessionmaker
        self._lock = asyncio.Lock()

    async def sync_once(self) -> int:
        """Apply every change since the highest sequence number held; returns how many."""
        async with self._lock:
            applied = 0
            async with self._sessionmaker() as session:
                last = (
                    await session.execute(select(func.coalesce(func.max(self.table.c.seq), 0)))
                ).scalar_one()
                while True:
                    batch = await self.client.changes_after(int(last))
                    if not batch:
                        break
                    applied += await upsert_refs(session, self.table, batch)
                    last = max(ref.seq for ref in batch)
                await session.commit()
            return applied

    async def refresh(self, session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef:
        """Fetch one convention now (fresh state before a write, or unknown id). 404 if absent."""
        ref = await self.client.fetch(convention_id)
        if ref is None:
            raise NotFound("Convention introuvable.")
        await upsert_refs(session, self.table, [ref])
        return ref

    async def get(self, session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef:
        """The replica's row, fetched on a miss (a convention created seconds ago)."""
        row = (
            await session.execute(select(self.table).where(self.table.c.id == convention_id))
        ).one_or_none()
        if row is not None:
            return row_to_ref(row)
        return await self.refresh(session, convention_id)

    async def readable(
        self, session: AsyncSession, convention_id: uuid.UUID, principal: Principal
    ) -> ConventionRef:
        """The convention if `principal` may read it; 404 otherwise, as for an id the
        conventions service does not know (`get`: fetched first on a miss)."""
        convention = await self.get(session, convention_id)
        if not convention.readable_by(principal):
            raise NotFound("Convention introuvable.")
        return convention


def sync_job(
    name: str,
    table: Table,
    conventions_url: str,
    resources: JobResources,
    every_seconds: float,
) -> PeriodicJob:
    """The periodic catch-up of one app's replica (`table`, in that app's schema), run by
    `coop worker`; requests fall back to `get`/`refresh` between two rounds."""
    client = ConventionRefClient(resources.http, resources.signer, conventions_url)
    replica = ConventionRefReplica(table, client, resources.sessionmaker)
    return PeriodicJob(name, every_seconds, replica.sync_once)
