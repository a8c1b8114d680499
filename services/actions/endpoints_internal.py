"""Internal routes (``/internal/v1``) of the actions service, for the other apps of the
suite (service tokens): a convention's bilans, which the conventions service reads
before a renewal (kernel.bilan_ref); what the campaigns' reminders of a day are about,
which the notifications service reads (kernel.rappels_ref)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from kernel.bilan_ref import BilanRef, BilanRefs
from kernel.database import DbSession
from kernel.internal_token import CallingService
from kernel.rappels_ref import MAX_CONVENTIONS_PAR_PAGE, RappelsPage
from services.actions import repository_suivis as srepo
from services.actions import service_rappels
from services.actions.dependencies import Ctx

router = APIRouter(prefix="/internal/v1", tags=["interne"])


@router.get("/conventions/{convention_id}/bilans")
async def bilans(
    convention_id: uuid.UUID, session: DbSession, _service: CallingService
) -> BilanRefs:
    """Every bilan of the convention (type, état, date d'adoption); none: an empty list
    (a convention the actions service never heard of has no bilan)."""
    rows = await srepo.bilan_refs(session, convention_id)
    return BilanRefs(items=[BilanRef.model_validate(r._asdict()) for r in rows])


@router.get("/rappels")
async def rappels(
    session: DbSession,
    ctx: Ctx,
    _service: CallingService,
    date: Annotated[dt.date, Query(description="Jour des rappels.")],
    cursor: Annotated[str | None, Query(description="Curseur de la page suivante.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_CONVENTIONS_PAR_PAGE, description="Conventions examinées.")
    ] = 100,
) -> RappelsPage:
    """What the campaigns' reminders of `date` are about (kernel.rappels_ref): per
    convention in force, its campaign's step that day and its actions still to fill."""
    return await service_rappels.rappels(
        session, ctx.settings.campagne_delai_jours, date, cursor, limit
    )
