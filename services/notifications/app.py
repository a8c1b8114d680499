"""The notifications service app (port 8004): the caller's notifications and the
delivery log; the feeds are followed and the e-mails sent by `coop worker` (jobs.py)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.notifications.endpoints import internal_router, router
from services.notifications.endpoints_preferences import router as preferences_router
from services.notifications.models import idempotency_keys
from services.notifications.settings import NotificationsSettings


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    return create_service_app(
        settings,
        title="Coopération — notifications",
        description="Notifications dans l'application et par e-mail, journal d'envoi.",
        routers=[router, preferences_router, internal_router],
        idempotency_keys=idempotency_keys,
        openapi_tags=[
            {
                "name": "notifications",
                "description": "Ce qui s'est passé et vous concerne, dans l'application et par "
                "e-mail",
            }
        ],
    )
