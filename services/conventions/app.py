"""The conventions service app (port 8001)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.conventions.endpoints import router as conventions_router
from services.conventions.endpoints_internal import router as internal_router
from services.conventions.endpoints_lifecycle import router as lifecycle_router
from services.conventions.endpoints_organisations import router as organisations_router
from services.conventions.settings import ConventionsSettings


def create_app(settings: ConventionsSettings | None = None) -> FastAPI:
    settings = settings or ConventionsSettings()
    return create_service_app(
        settings,
        title="Coopération — conventions",
        description=(
            "Répertoire des organisations, conventions territoriales globales, signataires, "
            "cycle de vie (signature, avenants, résiliation, renouvellement) et flux interne."
        ),
        routers=[organisations_router, conventions_router, lifecycle_router, internal_router],
        openapi_tags=[
            {"name": "organisations", "description": "Répertoire des organisations"},
            {"name": "conventions", "description": "Conventions et signataires"},
            {"name": "cycle de vie", "description": "Signature, avenants, résiliation"},
            {"name": "interne", "description": "Routes réservées aux services de la suite"},
        ],
    )
