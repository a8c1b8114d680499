"""Every SQL statement of the follow-up: suivis, campaigns, "my work", bilans."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from kernel.convention_ref import ScopeShape, readable_shape_clause, scope_params
from kernel.database import CompiledQuery
from kernel.pagination import KeyColumn, after_keyset_params, keyset_params
from kernel.principal import Principal
from services.actions.models import (
    AccordCdsf,
    Action,
    Axe,
    Bilan,
    Campagne,
    CompteursCampagne,
    CompteursPlan,
    Indicateur,
    Suivi,
    SuiviEvenement,
    ValeurIndicateur,
    convention_ref,
)
from services.actions.repository import bury
from services.actions.repository_sync import ListQuery
from services.actions.rules import THEMATIQUE_PETITE_ENFANCE, EtatSuivi, StatutAction, Trimestre

ref = convention_ref
A_FAIRE = (EtatSuivi.brouillon.value, EtatSuivi.a_completer.value)


# --- suivis ----------------------------------------------------------------------------


async def suivi_of(
    session: AsyncSession, action_id: uuid.UUID, periode: str, *, for_update: bool = False
) -> Suivi | None:
    stmt = select(Suivi).where(Suivi.action_id == action_id, Suivi.periode == periode)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def _suivis_statement() -> Select[Any]:
    return select(Suivi).where(Suivi.action_id == bindparam("parent_id"))


SUIVIS_LIST = ListQuery(
    ("suivis",), _suivis_statement, {}, Suivi.seq, (Suivi.periode, Suivi.id), "suivi"
)


async def evenements(session: AsyncSession, suivi_id: uuid.UUID) -> list[SuiviEvenement]:
    stmt = (
        select(SuiviEvenement)
        .where(SuiviEvenement.suivi_id == suivi_id)
        .order_by(SuiviEvenement.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def indicateur_ids_of(session: AsyncSession, action_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Indicateur.id, Indicateur.unite).where(Indicateur.action_id == action_id)
    )
    return {r[0]: r[1] for r in rows}


# --- campaigns -------------------------------------------------------------------------


async def campagne(
    session: AsyncSession, convention_id: uuid.UUID, periode: str, *, for_update: bool = False
) -> Campagne | None:
    stmt = select(Campagne).where(
        Campagne.convention_id == convention_id, Campagne.periode == periode
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def campagnes_of(session: AsyncSession, convention_id: uuid.UUID) -> dict[str, dt.date]:
    rows = await session.execute(
        select(Campagne.periode, Campagne.date_limite).where(
            Campagne.convention_id == convention_id
        )
    )
    return {r[0]: r[1] for r in rows}


async def campaign_rows(session: AsyncSession, convention_id: uuid.UUID, periode: str) -> list[Any]:
    """Each action due a suivi this quarter, with its suivi (if any)."""
    stmt = (
        select(
            Action.id,
            Action.titre,
            Suivi.etat,
            Suivi.alerte,
            Suivi.alerte_message,
        )
        .join(Axe, Axe.id == Action.axe_id)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == periode))
        .where(
            Action.convention_id == convention_id,
            Action.statut != StatutAction.abandonnee.value,
        )
        .order_by(Axe.position, Action.position, Action.id)
    )
    return list((await session.execute(stmt)).all())


def _active_during() -> Any:
    """Conventions in force during the quarter of the bind parameters ``t_debut`` and
    ``t_fin``."""
    debut = bindparam("t_debut", type_=Date)
    fin_t = bindparam("t_fin", type_=Date)
    fin = func.least(
        ref.c.date_fin,
        func.coalesce(ref.c.date_effet_resiliation - literal(1), ref.c.date_fin),
    )
    return and_(
        ref.c.statut != "en préparation",
        ref.c.date_debut <= fin_t,
        fin >= debut,
    )


def _per_convention(shape: ScopeShape) -> Any:
    """Counters per convention of a scope for one quarter, as the campaign counters
    hold them (kept by triggers as suivis and actions change, migration 0006: no scan of
    the suivis). Missing and late are derived here: late depends on the due date and
    the day. Values as bind parameters (``periode``, ``default_due``, ``today``,
    ``t_debut``, ``t_fin`` and the scope's)."""
    due = func.coalesce(Campagne.date_limite, bindparam("default_due", type_=Date))
    actions = func.coalesce(CompteursPlan.actions, 0)
    etats = {
        name: func.coalesce(getattr(CompteursCampagne, name), 0)
        for name in ("brouillon", "soumis", "valide", "a_completer")
    }
    suivis = etats["brouillon"] + etats["soumis"] + etats["valide"] + etats["a_completer"]
    manquant = actions - suivis
    a_faire = manquant + etats["brouillon"] + etats["a_completer"]
    periode = bindparam("periode", type_=String)
    return (
        select(
            ref.c.id.label("convention_id"),
            ref.c.titre,
            ref.c.caf_id,
            due.label("date_limite"),
            actions.label("actions"),
            *[value.label(name) for name, value in etats.items()],
            manquant.label("manquant"),
            case((due < bindparam("today", type_=Date), a_faire), else_=0).label("en_retard"),
            func.coalesce(CompteursCampagne.alertes, 0).label("alertes"),
        )
        .select_from(ref)
        .outerjoin(CompteursPlan, CompteursPlan.convention_id == ref.c.id)
        .outerjoin(
            CompteursCampagne,
            and_(CompteursCampagne.convention_id == ref.c.id, CompteursCampagne.periode == periode),
        )
        .outerjoin(Campagne, and_(Campagne.convention_id == ref.c.id, Campagne.periode == periode))
        .where(readable_shape_clause(ref, shape), _active_during())
    )


COUNTERS = (
    "actions",
    "brouillon",
    "soumis",
    "valide",
    "a_completer",
    "manquant",
    "en_retard",
    "alertes",
)


def _with_totals(per: Any, page: Any) -> Select[Any]:
    """Totals over every row of `per` next to one page of it, in a single statement.

    `per` is a CTE referenced twice, so PostgreSQL computes it once (one row per
    convention of the scope); the LEFT JOIN keeps the totals row when the page is empty.
    """
    totals = select(
        *[func.coalesce(func.sum(per.c[c]), 0).label(f"total_{c}") for c in COUNTERS]
    ).subquery("totals")
    page_q = page.subquery("page")
    return select(totals, page_q).select_from(totals.outerjoin(page_q, literal(True)))


@functools.lru_cache(maxsize=32)
def _campaign_query(shape: ScopeShape, by_caf: bool, one_caf: bool, resume: bool) -> CompiledQuery:
    # Built and compiled once per shape: building this statement cost the service more
    # CPU than PostgreSQL took to run it (the Caf's campaign view at each quarter's end).
    sub = _per_convention(shape)
    if one_caf:
        sub = sub.where(ref.c.caf_id == bindparam("caf_id", type_=Uuid))
    per = sub.cte("per")
    if by_caf:
        key = per.c.caf_id
        page = select(
            key, func.count().label("conventions"), *[func.sum(per.c[c]).label(c) for c in COUNTERS]
        ).group_by(key)
        if resume:
            page = page.having(after_keyset_params([key]))
    else:
        key = per.c.convention_id
        page = select(per)
        if resume:
            page = page.where(after_keyset_params([key]))
    stmt = _with_totals(per, page.order_by(key).limit(bindparam("limit")))
    return CompiledQuery(stmt.order_by(stmt.selected_columns[key.name]))


async def campaign_view(
    session: AsyncSession,
    principal: Principal,
    t: Trimestre,
    default_due: dt.date,
    today: dt.date,
    *,
    by_caf: bool,
    caf_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], tuple[Any, ...]]:
    """One keyset page of the campaign per convention (or per Caf: `by_caf`) of the
    principal's scope, at most `limit + 1` rows, and the totals over the whole scope
    (``total_<counter>`` columns, repeated on each row)."""
    params: dict[str, Any] = {
        **scope_params(principal),
        "periode": str(t),
        "default_due": default_due,
        "today": today,
        "t_debut": t.debut,
        "t_fin": t.fin,
        "caf_id": caf_id,
        "limit": limit + 1,
    }
    key = "caf_id" if by_caf else "convention_id"
    if cursor is not None:
        params.update(keyset_params(cursor, [ref.c.caf_id if by_caf else ref.c.id]))
    query = _campaign_query(
        ScopeShape.of(principal), by_caf, caf_id is not None, cursor is not None
    )
    result = await query.fetch(session, params)
    total = tuple(result[0][: len(COUNTERS)]) if result else (0,) * len(COUNTERS)
    return [r for r in result if r[key] is not None], total


_A_RENSEIGNER_KEYSET: list[KeyColumn] = [Action.convention_id, Action.id]


@functools.lru_cache(maxsize=16)
def _a_renseigner_statement(
    cafs: bool, colls: bool, resume: bool
) -> Select[uuid.UUID, uuid.UUID, str, str, dt.date]:
    # Built once per shape (which write scopes, first page or not), values as bind
    # parameters: building it cost more CPU than running it (the mobile app's hot path).
    conditions = []
    if cafs:
        conditions.append(ref.c.caf_id == any_(bindparam("scope_cafs", type_=ARRAY(Uuid))))
    if colls:
        conditions.append(
            Action.porteur_ids.bool_op("&&")(bindparam("scope_collectivites", type_=ARRAY(Uuid)))
        )
    periode = bindparam("periode", type_=String)
    stmt = (
        select(
            Action.id,
            Action.convention_id,
            Action.titre,
            Suivi.etat,
            func.coalesce(Campagne.date_limite, bindparam("default_due", type_=Date)).label(
                "date_limite"
            ),
        )
        .join(ref, ref.c.id == Action.convention_id)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == periode))
        .outerjoin(
            Campagne,
            and_(Campagne.convention_id == Action.convention_id, Campagne.periode == periode),
        )
        .where(
            or_(*conditions),
            _active_during(),
            Action.statut.not_in([StatutAction.abandonnee.value, StatutAction.realisee.value]),
            or_(Suivi.id.is_(None), Suivi.etat.in_(A_FAIRE)),
        )
    )
    if resume:
        stmt = stmt.where(after_keyset_params(_A_RENSEIGNER_KEYSET))
    return stmt.order_by(Action.convention_id, Action.id).limit(bindparam("limit"))


async def a_renseigner(
    session: AsyncSession,
    principal: Principal,
    t: Trimestre,
    default_due: dt.date,
    *,
    limit: int,
    cursor: str | None,
) -> list[Any]:
    """Actions the principal may update whose suivi for `t` is missing or still to do."""
    cafs = sorted(principal.caf_write_ids())
    colls = sorted(principal.collectivite_write_ids())
    if not cafs and not colls:
        return []
    params: dict[str, Any] = {
        "scope_cafs": cafs,
        "scope_collectivites": colls,
        "periode": str(t),
        "default_due": default_due,
        "t_debut": t.debut,
        "t_fin": t.fin,
        "limit": limit + 1,
    }
    if cursor is not None:
        params.update(keyset_params(cursor, _A_RENSEIGNER_KEYSET))
    stmt = _a_renseigner_statement(bool(cafs), bool(colls), cursor is not None)
    return list((await session.execute(stmt, params)).all())


# --- bilans ----------------------------------------------------------------------------


def _bilans_statement() -> Select[Any]:
    # The convention's dates ride along: each item's due date and lateness come from them.
    return (
        select(
            Bilan,
            ref.c.date_debut.label("convention_debut"),
            ref.c.date_fin.label("convention_fin"),
            ref.c.date_effet_resiliation.label("convention_resiliation"),
        )
        .join(ref, ref.c.id == Bilan.convention_id)
        .where(Bilan.convention_id == bindparam("parent_id"))
    )


BILANS_LIST = ListQuery(
    ("bilans",), _bilans_statement, {}, Bilan.seq, (Bilan.periode_debut, Bilan.id), "bilan"
)


async def delete_bilan(session: AsyncSession, bilan: Bilan) -> None:
    """Its CDSF agreements go with it (cascade); delta sync reports a tombstone."""
    await bury(session, "bilan", [bilan.id], bilan.convention_id, None)
    await session.execute(delete(Bilan).where(Bilan.id == bilan.id))


async def bilans_of(session: AsyncSession, convention_id: uuid.UUID) -> list[Any]:
    """(id, type, etat, periode_fin) of a convention's bilans, oldest period first."""
    stmt = (
        select(Bilan.id, Bilan.type, Bilan.etat, Bilan.periode_fin)
        .where(Bilan.convention_id == convention_id)
        .order_by(Bilan.periode_fin, Bilan.created_at, Bilan.id)
    )
    return list((await session.execute(stmt)).all())


async def axes_titres(session: AsyncSession, convention_id: uuid.UUID) -> list[tuple[str, str]]:
    """(id as text, titre) of a convention's axes, in the plan's order."""
    stmt = (
        select(Axe.id, Axe.titre)
        .where(Axe.convention_id == convention_id)
        .order_by(Axe.position, Axe.id)
    )
    return [(str(i), t) for i, t in (await session.execute(stmt)).all()]


async def accords(session: AsyncSession, bilan_id: uuid.UUID) -> list[AccordCdsf]:
    stmt = select(AccordCdsf).where(AccordCdsf.bilan_id == bilan_id).order_by(AccordCdsf.at)
    return list((await session.execute(stmt)).scalars().all())


async def petite_enfance_porteurs(
    session: AsyncSession, convention_id: uuid.UUID
) -> set[uuid.UUID]:
    stmt = select(func.unnest(Action.porteur_ids)).where(
        Action.convention_id == convention_id,
        func.lower(Action.thematique) == THEMATIQUE_PETITE_ENFANCE,
    )
    return set((await session.execute(stmt)).scalars())


async def snapshot_rows(
    session: AsyncSession, convention_id: uuid.UUID
) -> tuple[list[Action], list[Indicateur], dict[uuid.UUID, list[ValeurIndicateur]]]:
    actions = list(
        (
            await session.execute(
                select(Action)
                .join(Axe, Axe.id == Action.axe_id)
                .where(Action.convention_id == convention_id)
                .order_by(Axe.position, Action.position, Action.id)
            )
        ).scalars()
    )
    indicateurs = list(
        (
            await session.execute(
                select(Indicateur)
                .where(Indicateur.convention_id == convention_id)
                .order_by(
                    Indicateur.action_id.nulls_first(),
                    Indicateur.axe_id.nulls_first(),
                    Indicateur.created_at,
                    Indicateur.id,
                )
            )
        ).scalars()
    )
    valeurs: dict[uuid.UUID, list[ValeurIndicateur]] = {i.id: [] for i in indicateurs}
    if indicateurs:
        for v in (
            await session.execute(
                select(ValeurIndicateur)
                .where(ValeurIndicateur.indicateur_id.in_(list(valeurs)))
                .order_by(ValeurIndicateur.periode)
            )
        ).scalars():
            valeurs[v.indicateur_id].append(v)
    return actions, indicateurs, valeurs


async def derniers_suivis(
    session: AsyncSession, action_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Per action, its last validated revision (action_id, periode, revision,
    avancement): from the history, since a validated suivi being corrected is in
    brouillon again while its validated revision still stands."""
    if not action_ids:
        return {}
    stmt = (
        select(
            Suivi.action_id,
            Suivi.periode,
            SuiviEvenement.revision,
            SuiviEvenement.contenu["avancement"].as_integer().label("avancement"),
        )
        .join(SuiviEvenement, SuiviEvenement.suivi_id == Suivi.id)
        .where(
            Suivi.action_id.in_(action_ids),
            SuiviEvenement.etat_apres == EtatSuivi.valide.value,
        )
        .ext(distinct_on(Suivi.action_id))
        .order_by(Suivi.action_id, Suivi.periode.desc(), SuiviEvenement.id.desc())
    )
    return {r.action_id: r for r in (await session.execute(stmt)).all()}


async def bilan_refs(session: AsyncSession, convention_id: uuid.UUID) -> list[Any]:
    """A convention's bilans as the internal route shows them to the other services."""
    stmt = (
        select(Bilan.id, Bilan.type, Bilan.etat, Bilan.date_adoption)
        .where(Bilan.convention_id == convention_id)
        .order_by(Bilan.periode_debut, Bilan.id)
    )
    return list((await session.execute(stmt)).all())
