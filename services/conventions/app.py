"""The conventions service app (port 8001)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.bilan_ref import BilanRefClient
from services.conventions.endpoints import router as conventions_router
from services.conventions.endpoints_internal import router as internal_router
from services.conventions.endpoints_lifecycle import router as lifecycle_router
from services.conventions.endpoints_organisations import router as organisations_router
from services.conventions.endpoints_resiliation import router as resiliation_router
from services.conventions.models import idempotency_keys
from services.conventions.settings import ConventionsSettings


def create_app(settings: ConventionsSettings | None = None) -> FastAPI:
    settings = settings or ConventionsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.actions_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout) as http:
            app.state.bilans = BilanRefClient(http, app.state.internal_signer, settings.actions_url)
            yield

    return create_service_app(
        settings,
        title="Coopération — conventions",
        description=(
            "Répertoire des organisations, conventions territoriales globales, signataires, "
            "cycle de vie (signature, avenants, résiliation, renouvellement) et flux interne."
        ),
        routers=[
            organisations_router,
            conventions_router,
            lifecycle_router,
            resiliation_router,
            internal_router,
        ],
        extra_lifespan=lifespan,
        idempotency_keys=idempotency_keys,
        openapi_tags=[
            {"name": "organisations", "description": "Répertoire des organisations"},
            {"name": "conventions", "description": "Conventions et signataires"},
            {"name": "cycle de vie", "description": "Signature, avenants, résiliation"},
            {"name": "interne", "description": "Routes réservées aux services de la suite"},
        ],
    )
