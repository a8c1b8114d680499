"""Every SQL statement of the national export (`service_exports_national`).

A year of the whole country is ~500 000 action × quarter rows: the rows are streamed from
one statement through a server-side cursor (never held whole), porteurs' names and the
quarter's indicator values joined or aggregated in SQL (no statement per convention or
per row); the aggregates are one grouped statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from kernel.convention_ref import ReadScope, ScopeKind, name_of, names_of, readable_replica
from services.actions.models import Action, Axe, Indicateur, Suivi, ValeurIndicateur
from services.actions.models import convention_ref as ref
from services.actions.repository import PLAN_ORDER, late_on
from services.actions.repository_suivis import in_force_during
from services.actions.rules import EtatSuivi, StatutAction, Trimestre

# Rows fetched from the cursor at a time: a writer's batch (kernel.tabular's 1000-2000).
STREAM_ROWS = 2000


def _quarters(trimestres: Sequence[Trimestre]) -> Any:
    """The year's quarters as a table (periode, debut, fin, rang), in order."""
    return (
        func.unnest(
            bindparam("periodes", [str(t) for t in trimestres], type_=ARRAY(String)),
            bindparam("debuts", [t.debut for t in trimestres], type_=ARRAY(Date)),
            bindparam("fins", [t.fin for t in trimestres], type_=ARRAY(Date)),
        )
        .table_valued("periode", "debut", "fin", with_ordinality="rang")
        .render_derived(name="q")
    )


def _quarter_values(trimestres: Sequence[Trimestre]) -> Any:
    """The values of the actions' indicators for each quarter of the year, one row per
    action and quarter: [[libellé, unité, valeur, cibles], ...] in the indicators' order
    (as the per-convention export lists them), aggregated once for the whole country
    rather than looked up per row."""
    item = func.jsonb_build_array(
        Indicateur.libelle,
        Indicateur.unite,
        cast(ValeurIndicateur.valeur, String),
        Indicateur.cibles,
    )
    return (
        select(
            Indicateur.action_id,
            ValeurIndicateur.periode,
            # As JSON text: the service decodes it (orjson; json's decoder cost seconds).
            cast(
                func.jsonb_agg(aggregate_order_by(item, Indicateur.created_at, Indicateur.id)),
                Text,
            ).label("valeurs"),
        )
        .join(Indicateur, Indicateur.id == ValeurIndicateur.indicateur_id)
        .where(
            Indicateur.action_id.is_not(None),
            ValeurIndicateur.periode
            == any_(
                bindparam("valeur_periodes", [str(t) for t in trimestres], type_=ARRAY(String))
            ),
        )
        .group_by(Indicateur.action_id, ValeurIndicateur.periode)
        .subquery("v")
    )


def _as_driver_gives(array: ColumnElement[Any]) -> ColumnElement[Any]:
    """A text array as asyncpg decodes it (a list of str): SQLAlchemy's ARRAY type would
    copy each list item by item again, a second per million arrays."""
    return type_coerce(array, NullType())


def suivis_statement(kind: ScopeKind, trimestres: Sequence[Trimestre]) -> Select[Any]:
    """Every action of every convention of the scope × every quarter of `trimestres` the
    convention is in force, with that quarter's suivi if any: the per-convention
    export's columns (`repository_exports.tableau_rows`) plus the Caf and the convention,
    by Caf, convention, the plan's order, then the quarters' order (stable: ids break
    ties)."""
    q = _quarters(trimestres)
    v = _quarter_values(trimestres)
    caf = name_of(ref, ref.c.caf_id)
    return (
        select(
            # Ids as text: only shown where a name is unknown, and a UUID made into
            # Python's for each of half a million rows costs seconds.
            func.coalesce(caf, cast(ref.c.caf_id, String)).label("caf"),
            ref.c.titre.label("convention"),
            Axe.titre.label("axe"),
            Action.reference,
            Action.titre.label("action"),
            _as_driver_gives(cast(Action.porteur_ids, ARRAY(String))).label("porteur_ids"),
            _as_driver_gives(names_of(ref, Action.porteur_ids.expression)).label("porteur_noms"),
            Action.statut,
            Action.date_echeance,
            q.c.periode,
            Suivi.etat,
            Suivi.avancement,
            Suivi.realisations,
            Suivi.difficultes,
            v.c.valeurs,
        )
        .select_from(ref)
        .join(q, in_force_during(q.c.debut, q.c.fin))
        .join(Action, Action.convention_id == ref.c.id)
        .join(Axe, Axe.id == Action.axe_id)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == q.c.periode))
        .outerjoin(v, and_(v.c.action_id == Action.id, v.c.periode == q.c.periode))
        .where(readable_replica(ref, kind))
        .order_by(caf, ref.c.caf_id, ref.c.titre, ref.c.id, *PLAN_ORDER, q.c.rang)
    )


async def suivis(
    session: AsyncSession, scope: ReadScope, trimestres: Sequence[Trimestre]
) -> AsyncIterator[Any]:
    """`suivis_statement`'s rows, streamed from a server-side cursor."""
    stmt = suivis_statement(scope.kind, trimestres).execution_options(yield_per=STREAM_ROWS)
    # The session's connection (its transaction), Core rows: the ORM's loading adds
    # nothing to plain columns but its cost per row.
    connection = await session.connection()
    result = await connection.stream(stmt, scope.params)
    try:
        # By partition: each step of an async result crosses into SQLAlchemy's greenlet,
        # once per row it cost more than PostgreSQL's work.
        async for partition in result.partitions():
            for row in partition:
                yield row
    finally:
        await result.close()


def _count(condition: Any) -> Any:
    return func.count().filter(condition)


def agregats_statement(kind: ScopeKind, trimestres: Sequence[Trimestre]) -> Select[Any]:
    """Per Caf of the scope, then the whole scope (`caf_id` NULL, last): the conventions
    in force during the quarters, their actions due a suivi (not abandoned, as the
    campaigns count them), the suivis expected (those actions × the quarters each
    convention is in force), validated, sent back, submitted, drafts, missing, and the
    actions late on ``today`` (`rules.en_retard`)."""
    q = _quarters(trimestres)
    due = and_(Action.convention_id == ref.c.id, Action.statut != StatutAction.abandonnee.value)
    etat = Suivi.etat
    per_convention = (
        select(
            ref.c.id,
            ref.c.caf_id,
            name_of(ref, ref.c.caf_id).label("caf"),
            func.count(func.distinct(Action.id)).label("actions"),
            func.count(Action.id).label("attendus"),
            _count(etat == EtatSuivi.valide.value).label("valides"),
            _count(etat == EtatSuivi.a_completer.value).label("a_completer"),
            _count(etat == EtatSuivi.soumis.value).label("soumis"),
            _count(etat == EtatSuivi.brouillon.value).label("brouillons"),
            (func.count(Action.id) - func.count(Suivi.id)).label("non_renseignes"),
            func.count(func.distinct(Action.id))
            .filter(late_on(bindparam("today", type_=Date)))
            .label("en_retard"),
        )
        .select_from(ref)
        .join(q, in_force_during(q.c.debut, q.c.fin))
        .outerjoin(Action, due)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == q.c.periode))
        .where(readable_replica(ref, kind))
        .group_by(ref.c.id)
        .subquery("c")
    )
    c = per_convention.c
    summed = ("actions", "attendus", "valides", "a_completer", "soumis", "brouillons")
    total = func.grouping(c.caf_id)
    return (
        select(
            c.caf_id,
            func.max(c.caf).label("caf"),
            func.count().label("conventions"),
            *[func.sum(c[name]).cast(Integer).label(name) for name in summed],
            func.sum(c.non_renseignes).cast(Integer).label("non_renseignes"),
            func.sum(c.en_retard).cast(Integer).label("en_retard"),
        )
        # ROLLUP: each Caf's row, then the total's (its caf_id NULL).
        .group_by(func.rollup(c.caf_id))
        .order_by(total, func.max(c.caf), c.caf_id)
    )


async def agregats(
    session: AsyncSession, scope: ReadScope, trimestres: Sequence[Trimestre], today: dt.date
) -> Sequence[Any]:
    """`agregats_statement`'s rows (a hundred Cafs and the total)."""
    stmt = agregats_statement(scope.kind, trimestres)
    rows: Sequence[Any] = (await session.execute(stmt, {**scope.params, "today": today})).all()
    return rows
