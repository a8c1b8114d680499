"""A convention's history feed, merged across the services: `GET
/api/v1/conventions/{id}/historique`.

Each service serves its part of it (`/internal/v1/conventions/{id}/historique`, with the
reader's internal token: its own scope check, 404 outside it) after the feed's cursor;
the feed is ordered by (time, service, id), newest first, so one opaque cursor is a
position every service understands (`kernel.history.FeedCursor`). The gateway asks them
all at once, keeps the newest `limit` entries and makes the next cursor from the last
one kept. A service that does not answer is the whole request's 503/504, never a page
with a part silently missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, ValidationError

from gateway.auth.dependencies import CurrentPrincipal
from gateway.auth.gatekeeper import InternalTokens
from gateway.proxy.forward import BadGateway, GatewayTimeout, Proxy
from gateway.proxy.routing import ACTIONS, CONVENTIONS, DOCUMENTS
from kernel.database import DbSession
from kernel.deprecation import Deprecation
from kernel.errors import RETRY_LATER, BadRequest, DomainError, NotFound, ServiceUnavailable
from kernel.history import EntreeHistorique, merge_feed
from kernel.pagination import Page, Pagination
from kernel.principal import Principal
from kernel.rights import Right, RightCheck, RightRoute

# The services whose objects belong to a convention, each serving its part of the feed.
FEED_SOURCES: tuple[str, ...] = (CONVENTIONS, ACTIONS, DOCUMENTS)

router = APIRouter(prefix="/api/v1", tags=["historique"], route_class=RightRoute)


class FeedRight(RightCheck[Principal]):
    """The feed's right at the gateway: any authenticated caller; each service checks
    its part's scope (the convention's readers, 404 outside it)."""

    async def __call__(
        self, request: Request, principal: CurrentPrincipal, session: DbSession
    ) -> Principal:
        self.require(request, session, principal, principal)
        return principal


ConventionHistoryRead = Annotated[Principal, Depends(FeedRight(Right("ConventionRead")))]


class EntreeConvention(EntreeHistorique):
    transition: Annotated[str, Deprecation(dt.date(2026, 12, 4))] = Field(
        description="Obsolète : l'ancien nom de `evenement` (les entrées du cycle de vie de "
        "la convention seules portaient ce champ)."
    )


def _problem(service: str, status: int) -> DomainError:
    """A service's refusal or failure, as the feed's answer."""
    if status == 404:
        return NotFound("Convention introuvable.")
    if status == 400:
        return BadRequest("Curseur de pagination invalide.")
    if status == 503:
        return ServiceUnavailable(
            f"Le service {service} est indisponible.", headers={"Retry-After": RETRY_LATER}
        )
    if status == 504:
        return GatewayTimeout(f"Le service {service} a mis trop de temps à répondre.")
    return BadGateway(f"Le service {service} n'a pas pu donner son historique ({status}).")


async def _part(
    request: Request, principal: CurrentPrincipal, service: str, path: str, params: dict[str, str]
) -> Page[EntreeHistorique]:
    proxy: Proxy = request.app.state.proxy
    tokens: InternalTokens = request.app.state.internal_tokens
    status, body = await proxy.fetch(
        service,
        path,
        params,
        internal_token=tokens.token_for(principal, service),
        request_id=str(request.scope.get("state", {}).get("request_id", "")),
    )
    if status != 200:
        raise _problem(service, status)
    try:
        part = Page[EntreeHistorique].model_validate_json(body)
    except ValidationError as exc:
        raise BadGateway(f"Le service {service} a donné un historique illisible.") from exc
    if any(e.source != service for e in part.items):
        raise BadGateway(f"Le service {service} a donné un historique illisible.")
    return part


@router.get(
    "/conventions/{convention_id}/historique",
    summary="Historique de la convention et de tous ses objets",
    description="Tout ce qui a changé dans la convention, ses signataires, son Annexe 2, "
    "ses mises en demeure, son plan d'actions (axes, actions, sous-actions, suivis), ses "
    "indicateurs et leurs valeurs, ses bilans, ses documents : qui (nom à ce moment-là), "
    "quand, par quelle application, quoi (champ par champ). Du plus récent au plus ancien, "
    "par pages (`cursor`).",
)
async def convention_history(
    convention_id: uuid.UUID, request: Request, principal: ConventionHistoryRead, page: Pagination
) -> Page[EntreeConvention]:
    path = f"/internal/v1/conventions/{convention_id}/historique"
    params = {"limit": str(page.limit), **({"cursor": page.cursor} if page.cursor else {})}
    tasks = [
        asyncio.create_task(_part(request, principal, service, path, params))
        for service in FEED_SOURCES
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    # The first service's refusal wins (the conventions service's 404 first).
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            raise outcome
    parts = [o for o in outcomes if isinstance(o, Page)]
    merged = merge_feed(parts, page.limit)
    return Page[EntreeConvention](
        items=[EntreeConvention(**e.model_dump(), transition=e.evenement) for e in merged.items],
        next_cursor=merged.next_cursor,
    )
