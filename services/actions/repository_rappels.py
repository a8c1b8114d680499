"""The SQL of the campaigns' reminders: per convention in force during a quarter, its
actions still to fill (the same rule as "my actions to fill", `repository_suivis`) and
the campaign's due date."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple

import orjson
from sqlalchemy import Date, String, Uuid, all_, and_, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions.models import Action, Campagne, Suivi, convention_ref
from services.actions.repository_suivis import A_FAIRE, _active_during, _texts
from services.actions.rules import StatutAction, Trimestre

ref = convention_ref


class ConventionARappeler(NamedTuple):
    convention_id: uuid.UUID
    titre: str
    caf_id: uuid.UUID
    signataire_ids: list[uuid.UUID]
    date_limite: dt.date
    # (id, titre, porteur_ids) of each action still to fill, by id.
    actions: list[tuple[uuid.UUID, str, list[uuid.UUID]]]


def _quarter(t: Trimestre) -> dict[str, object]:
    return {"periode": str(t), "t_debut": t.debut, "t_fin": t.fin}


async def conventions_en_vigueur(
    session: AsyncSession, t: Trimestre, after: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """The next `limit` conventions in force during `t`, by id after `after` (the keyset
    of the reminders' pages: a page examines a bounded number of conventions)."""
    stmt = (
        select(ref.c.id).where(_active_during(), ref.c.id > after).order_by(ref.c.id).limit(limit)
    )
    return list((await session.scalars(stmt, _quarter(t))).all())


async def a_rappeler(
    session: AsyncSession, t: Trimestre, default_due: dt.date, ids: list[uuid.UUID]
) -> list[ConventionARappeler]:
    """Of the conventions `ids`, those with actions whose suivi for `t` is missing or
    still to do (not réalisée nor abandonnée), with them and the campaign's due date."""
    if not ids:
        return []
    periode = bindparam("periode", type_=String)
    due = func.coalesce(Campagne.date_limite, bindparam("default_due", type_=Date))
    action = func.json_build_array(Action.id, Action.titre, Action.porteur_ids)
    stmt = (
        select(
            ref.c.id,
            ref.c.titre,
            ref.c.caf_id,
            ref.c.signataire_ids,
            due,
            func.json_agg(aggregate_order_by(action, Action.id)),
        )
        .select_from(ref)
        .join(Action, Action.convention_id == ref.c.id)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == periode))
        .outerjoin(Campagne, and_(Campagne.convention_id == ref.c.id, Campagne.periode == periode))
        .where(
            ref.c.id == any_(bindparam("ids", type_=ARRAY(Uuid))),
            Action.statut
            != all_(_texts(StatutAction.abandonnee.value, StatutAction.realisee.value)),
            or_(Suivi.id.is_(None), Suivi.etat == any_(_texts(*A_FAIRE))),
        )
        .group_by(ref.c.id, Campagne.date_limite)
        .order_by(ref.c.id)
    )
    params = {**_quarter(t), "default_due": default_due, "ids": ids}
    out = []
    for row in await session.execute(stmt, params):
        raw = row[5]
        actions = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        out.append(
            ConventionARappeler(
                row[0],
                row[1],
                row[2],
                list(row[3]),
                row[4],
                [(uuid.UUID(a[0]), a[1], [uuid.UUID(p) for p in a[2]]) for a in actions],
            )
        )
    return out
