"""Internal routes (``/internal/v1``) of the actions service, for the other apps of the
suite (service tokens): a convention's bilans, which the conventions service reads
before a renewal (kernel.bilan_ref)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from kernel.bilan_ref import BilanRef, BilanRefs
from kernel.database import DbSession
from kernel.internal_token import CallingService
from services.actions import repository_suivis as srepo

router = APIRouter(prefix="/internal/v1", tags=["interne"])


@router.get("/conventions/{convention_id}/bilans")
async def bilans(
    convention_id: uuid.UUID, session: DbSession, _service: CallingService
) -> BilanRefs:
    """Every bilan of the convention (type, état, date d'adoption); none: an empty list
    (a convention the actions service never heard of has no bilan)."""
    rows = await srepo.bilan_refs(session, convention_id)
    return BilanRefs(items=[BilanRef.model_validate(r._asdict()) for r in rows])
