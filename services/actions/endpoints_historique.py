"""Routes of the plan's history (issue 24): an axe's, an action's, an indicator's, each
read like the object; and this service's part of a convention's feed, which the
gateway merges (`gateway/historique.py`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from kernel.database import DbSession
from kernel.history import EntreeHistorique
from kernel.idempotency import IdempotentRoute
from kernel.internal_token import CurrentPrincipal
from kernel.pagination import Page, Pagination
from services.actions import service_historique
from services.actions.dependencies import Ctx
from services.actions.rights import ActionRead, ConventionRead

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute, tags=["historique"])
internal_router = APIRouter(prefix="/internal/v1", tags=["interne"])

_HOW = (
    "Du plus récent au plus ancien, par pages (`cursor`) : qui (nom à ce moment-là), quand, "
    "par quelle application, quoi (champ par champ). Un objet supprimé garde son historique."
)


@router.get(
    "/conventions/{convention_id}/axes/{axe_id}/historique",
    summary="Historique d'un axe et de ses indicateurs",
    description=_HOW,
)
async def axe_history(
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
) -> Page[EntreeHistorique]:
    return await service_historique.axe_history(
        ctx, session, principal, convention_id, axe_id, page
    )


@router.get(
    "/actions/{action_id}/historique",
    summary="Historique d'une action, de ses sous-actions et de ses indicateurs",
    description=_HOW,
)
async def action_history(
    action_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: ActionRead, page: Pagination
) -> Page[EntreeHistorique]:
    return await service_historique.action_history(ctx, session, principal, action_id, page)


@router.get(
    "/actions/{action_id}/indicateurs/{indicateur_id}/historique",
    summary="Historique d'un indicateur d'une action et de ses valeurs",
    description=_HOW,
)
async def indicateur_history(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ActionRead,
    page: Pagination,
) -> Page[EntreeHistorique]:
    return await service_historique.indicateur_history(
        ctx, session, principal, page, indicateur_id, action_id=action_id
    )


@router.get(
    "/conventions/{convention_id}/indicateurs/{indicateur_id}/historique",
    summary="Historique d'un indicateur de la convention ou d'un axe et de ses valeurs",
    description=_HOW,
)
async def indicateur_convention_history(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
) -> Page[EntreeHistorique]:
    return await service_historique.indicateur_history(
        ctx, session, principal, page, indicateur_id, convention_id=convention_id
    )


@internal_router.get("/conventions/{convention_id}/historique")
async def feed(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: CurrentPrincipal,
    page: Pagination,
) -> Page[EntreeHistorique]:
    """This service's part of the convention's feed, for the reader the gateway names
    (404 outside their scope): axes, actions, indicators and their values."""
    return await service_historique.feed(ctx, session, principal, convention_id, page)
