"""What the campaigns' reminders are about on a given day (kernel.rappels_ref): per
convention in force, the step its campaign is at (rules.etape_rappel) and its actions
still to fill. Read by the notifications service's job, which owns people and mail."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import BadRequest
from kernel.pagination import decode_cursor, encode_cursor
from kernel.rappels_ref import ActionARenseigner, RappelConvention, RappelsPage
from services.actions import repository_rappels as rrepo
from services.actions.rules import (
    Trimestre,
    campagnes_a_rappeler,
    etape_rappel,
    ouverture_campagne,
)


async def rappels(
    session: AsyncSession, delai_jours: int, day: dt.date, cursor: str | None, limit: int
) -> RappelsPage:
    """One page: up to `limit` conventions of one campaign examined (those with nothing
    to fill, or whose campaign has not opened, give no item); the cursor goes on through
    the next conventions, then the next campaign."""
    campagnes = campagnes_a_rappeler(day, delai_jours)
    t, after = campagnes[0], uuid.UUID(int=0)
    if cursor is not None:
        periode, after = decode_cursor(cursor, [str, uuid.UUID])
        found = [c for c in campagnes if str(c) == periode]
        if not found:
            raise BadRequest("Curseur de pagination invalide pour ce jour.")
        t = found[0]
    ids = await rrepo.conventions_en_vigueur(session, t, after, limit)
    default_due = t.echeance_par_defaut(delai_jours)
    ouverture = ouverture_campagne(t, delai_jours)
    items = []
    for c in await rrepo.a_rappeler(session, t, default_due, ids):
        etape = etape_rappel(day, ouverture, c.date_limite)
        if etape is None:
            continue
        items.append(
            RappelConvention(
                periode=str(t),
                etape=etape,
                date_limite=c.date_limite,
                convention_id=c.convention_id,
                convention_titre=c.titre,
                caf_id=c.caf_id,
                signataire_ids=c.signataire_ids,
                actions=[
                    ActionARenseigner(id=i, titre=titre, porteur_ids=porteurs)
                    for i, titre, porteurs in c.actions
                ],
            )
        )
    return RappelsPage(items=items, next_cursor=_next(campagnes, t, ids, limit))


def _next(campagnes: list[Trimestre], t: Trimestre, ids: list[uuid.UUID], limit: int) -> str | None:
    if len(ids) == limit:
        return encode_cursor([str(t), ids[-1]])
    later = campagnes[campagnes.index(t) + 1 :]
    if not later:
        return None
    # The next campaign from its first convention (a nil id sorts before every other).
    return encode_cursor([str(later[0]), uuid.UUID(int=0)])
