"""Every SQL statement of the exports of the tableau de suivi (`export_suivi`).

One convention's rows are read whole (a plan of a few hundred actions over its quarters:
bounded) before the file is streamed, so a scope or database error is still a problem
answer, never a file cut in the middle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, String, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions.models import Action, Axe, Indicateur, Suivi, ValeurIndicateur
from services.actions.repository import PLAN_ORDER


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
