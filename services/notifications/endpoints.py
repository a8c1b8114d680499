"""Routes of the notifications service: the caller's notifications (`/moi/...`), the
Caf administrators' delivery log, and the internal one-click unsubscribe."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kernel.database import DbSession
from kernel.idempotency import IdempotentRoute
from kernel.internal_token import CallingService
from kernel.pagination import Pagination, decode_sync_token, encode_sync_token
from services.notifications import service
from services.notifications.models import StatutEnvoi
from services.notifications.rights import DeliveryLogRead, MyNotifications
from services.notifications.schemas import (
    DesabonnementOut,
    EnvoiOut,
    EnvoisPage,
    LectureOut,
    NotificationOut,
    NotificationsPage,
)
from services.notifications.settings import NotificationsSettings

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)
internal_router = APIRouter(prefix="/internal/v1", tags=["interne"])

UpdatedSince = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Jeton de synchronisation (sync_token d'une réponse précédente) : "
        "seules les notifications créées ou modifiées depuis sont renvoyées.",
    ),
]


@router.get(
    "/moi/notifications",
    response_model=NotificationsPage,
    tags=["notifications"],
    summary="Mes notifications",
    description=(
        "Les notifications de l'appelant, les plus récentes d'abord, par pages, avec le "
        "nombre de non lues. `updated_since` (le `sync_token` d'une réponse précédente) "
        "donne celles créées ou modifiées (lues) depuis : ce que l'application mobile "
        "interroge."
    ),
)
async def my_notifications(
    session: DbSession,
    principal: MyNotifications,
    page: Pagination,
    updated_since: UpdatedSince = None,
) -> NotificationsPage:
    listing = await service.my_notifications(
        session,
        principal,
        page.limit,
        page.cursor,
        None if updated_since is None else decode_sync_token(updated_since),
    )
    return NotificationsPage(
        items=[NotificationOut.model_validate(n) for n in listing.items],
        next_cursor=listing.next_cursor,
        sync_token=encode_sync_token(listing.sync_token),
        non_lues=listing.non_lues,
    )


@router.post(
    "/moi/notifications/lecture",
    response_model=LectureOut,
    tags=["notifications"],
    summary="Tout marquer comme lu",
    description="Marque lues toutes les notifications non lues de l'appelant.",
)
async def mark_all_read(session: DbSession, principal: MyNotifications) -> LectureOut:
    marked = await service.mark_all_read(session, principal)
    return LectureOut(marquees=marked, non_lues=0)


@router.post(
    "/moi/notifications/{notification_id}/lecture",
    response_model=NotificationOut,
    tags=["notifications"],
    summary="Marquer une notification comme lue",
    description="Marque lue l'une des notifications de l'appelant (déjà lue : inchangée).",
)
async def mark_read(
    notification_id: uuid.UUID, session: DbSession, principal: MyNotifications
) -> NotificationOut:
    return NotificationOut.model_validate(
        await service.mark_read(session, principal, notification_id)
    )


@router.get(
    "/envois",
    response_model=EnvoisPage,
    tags=["notifications"],
    summary="Journal d'envoi des e-mails",
    description=(
        "Les e-mails adressés au sujet des Cafs que l'appelant administre (mis en file, "
        "envoyés, en échec après plusieurs essais avec la raison), les plus récents "
        "d'abord. Réservé aux administrateurs d'une Caf."
    ),
)
async def delivery_log(
    session: DbSession,
    principal: DeliveryLogRead,
    page: Pagination,
    statut: Annotated[StatutEnvoi | None, Query(description="Statut des envois")] = None,
) -> EnvoisPage:
    rows, next_cursor = await service.delivery_log(
        session, principal, page.limit, page.cursor, statut
    )
    return EnvoisPage(items=[EnvoiOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@internal_router.post("/desabonnements/{jeton}")
async def unsubscribe(
    jeton: str,
    request: Request,
    session: DbSession,
    _service: CallingService,
) -> DesabonnementOut:
    """The one-click unsubscribe (RFC 8058), relayed by the gateway (gateway.desabonnement):
    the signed token names the person and the family; unknown token 404."""
    settings: NotificationsSettings = request.app.state.settings
    familles = await service.unsubscribe(session, settings, jeton)
    labels = ", ".join(service.FAMILY_LABELS.get(f, f.value) for f in familles)
    return DesabonnementOut(
        familles=familles, message=f"Vous ne recevrez plus d'e-mails pour : {labels}."
    )
