"""Every SQL statement of the exports of the tableau de suivi (`export_suivi`).

A Caf's campaign (`campagne_caf_stmt`) is streamed by the job that writes it; one
convention's rows are read whole (a plan of a few hundred actions over its quarters:
bounded) before the file is streamed, so a scope or database error is still a problem
answer, never a file cut in the middle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    Executable,
    String,
    Uuid,
    bindparam,
    cast,
    func,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ScopeKind, name_of, names_of, readable_replica
from services.actions.models import Action, Axe, Indicateur, Suivi, ValeurIndicateur
from services.actions.models import convention_ref as ref
from services.actions.repository import PLAN_ORDER
from services.actions.repository_suivis import _active_during


def _periodes(periodes: Sequence[str]) -> Any:
    """The quarters as a table (periode, rang), in the order given."""
    return (
        func.unnest(bindparam("periodes", list(periodes), type_=ARRAY(String)))
        .table_valued("periode", with_ordinality="rang")
        .render_derived(name="p")
    )


async def tableau_rows(
    session: AsyncSession, convention_id: uuid.UUID, periodes: Sequence[str]
) -> Sequence[Any]:
    """Every action of the convention × every quarter of `periodes`, with the suivi of
    that quarter when there is one; in the plan's order, then the quarters' order."""
    p = _periodes(periodes)
    stmt = (
        select(
            Axe.position.label("axe_position"),
            Axe.titre.label("axe"),
            Action.id.label("action_id"),
            Action.reference,
            Action.titre.label("action"),
            Action.porteur_ids,
            Action.statut,
            Action.date_echeance,
            p.c.periode,
            Suivi.etat,
            Suivi.avancement,
            Suivi.realisations,
            Suivi.difficultes,
        )
        .join(Axe, Axe.id == Action.axe_id)
        .join(p, true())
        .outerjoin(Suivi, (Suivi.action_id == Action.id) & (Suivi.periode == p.c.periode))
        .where(Action.convention_id == convention_id)
        .order_by(*PLAN_ORDER, p.c.rang)
    )
    return (await session.execute(stmt)).all()


async def indicateurs_rows(session: AsyncSession, convention_id: uuid.UUID) -> Sequence[Any]:
    """Every indicator of the convention (its own, its axes', its actions') with each of
    its values (one row with no value when it has none): the convention's first, then
    in the plan's order."""
    axe_id = func.coalesce(Indicateur.axe_id, Action.axe_id)
    stmt = (
        select(
            Indicateur.id,
            Indicateur.action_id,
            Indicateur.libelle,
            Indicateur.unite,
            Indicateur.cibles,
            Axe.titre.label("axe"),
            Action.titre.label("action"),
            ValeurIndicateur.periode,
            ValeurIndicateur.valeur,
        )
        .outerjoin(Action, Action.id == Indicateur.action_id)
        .outerjoin(Axe, Axe.id == axe_id)
        .outerjoin(ValeurIndicateur, ValeurIndicateur.indicateur_id == Indicateur.id)
        .where(Indicateur.convention_id == convention_id)
        .order_by(
            Axe.position.nulls_first(),
            Action.position.nulls_first(),
            Indicateur.created_at,
            Indicateur.id,
            ValeurIndicateur.periode,
        )
    )
    return (await session.execute(stmt)).all()


def campagne_caf_stmt(kind: ScopeKind) -> Executable:
    """A Caf's campaign (bind parameters `caf_id`, `periode`, `t_debut`, `t_fin` and the
    scope's): every action of every convention of the Caf in force that quarter, within
    the caller's scope, with that quarter's suivi and the values of the action's
    indicators for it; by convention (title, id), then in the plan's order."""
    periode = bindparam("periode", type_=String)
    valeurs = (
        select(
            func.jsonb_agg(
                aggregate_order_by(
                    func.jsonb_build_array(
                        Indicateur.libelle,
                        Indicateur.unite,
                        cast(ValeurIndicateur.valeur, String),
                        Indicateur.cibles,
                    ),
                    Indicateur.created_at,
                    Indicateur.id,
                )
            )
        )
        .select_from(Indicateur)
        .join(ValeurIndicateur, ValeurIndicateur.indicateur_id == Indicateur.id)
        .where(Indicateur.action_id == Action.id, ValeurIndicateur.periode == periode)
        .scalar_subquery()
    )
    return (
        select(
            ref.c.titre.label("convention"),
            Axe.titre.label("axe"),
            Action.reference,
            Action.titre.label("action"),
            Action.porteur_ids,
            names_of(ref, Action.porteur_ids.expression).label("porteur_noms"),
            Action.statut,
            Action.date_echeance,
            periode.label("periode"),
            Suivi.etat,
            Suivi.avancement,
            Suivi.realisations,
            Suivi.difficultes,
            type_coerce(valeurs, JSONB).label("valeurs"),
        )
        .select_from(ref)
        .join(Action, Action.convention_id == ref.c.id)
        .join(Axe, Axe.id == Action.axe_id)
        .outerjoin(Suivi, (Suivi.action_id == Action.id) & (Suivi.periode == periode))
        .where(
            readable_replica(ref, kind),
            ref.c.caf_id == bindparam("caf_id", type_=Uuid),
            _active_during(),
        )
        .order_by(ref.c.titre, ref.c.id, *PLAN_ORDER)
    )


async def caf_nom(session: AsyncSession, caf_id: uuid.UUID) -> str | None:
    """The Caf's name as its conventions' replica rows give it; None when no convention
    of that Caf is known (an id that is no Caf's, or a Caf without any CTG yet)."""
    stmt = select(name_of(ref, ref.c.caf_id)).where(ref.c.caf_id == caf_id).limit(1)
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0] or "")
