"""The actions service app: plan d'actions, suivis trimestriels, indicateurs, bilans."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.convention_ref import ConventionRefClient, ConventionRefReplica
from kernel.outbox import outbox_router
from kernel.people_ref import PersonnesClient
from services.actions.dependencies import ActionsContext
from services.actions.endpoints import router as plan_router
from services.actions.endpoints_bilans import router as bilans_router
from services.actions.endpoints_discussions import router as discussions_router
from services.actions.endpoints_export_jobs import router as export_jobs_router
from services.actions.endpoints_exports import router as exports_router
from services.actions.endpoints_historique import internal_router as feed_router
from services.actions.endpoints_historique import router as history_router
from services.actions.endpoints_imports import router as imports_router
from services.actions.endpoints_indicateurs import router as indicateurs_router
from services.actions.endpoints_internal import router as internal_router
from services.actions.endpoints_rapports import router as rapports_router
from services.actions.endpoints_suivis import router as suivis_router
from services.actions.events import OUTBOX
from services.actions.models import convention_ref, idempotency_keys
from services.actions.settings import ActionsSettings


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone().date()


def create_app(
    settings: ActionsSettings | None = None,
    *,
    conventions_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
    today: Callable[[], dt.date] | None = None,
) -> FastAPI:
    """`conventions_transport` lets tests run the conventions app in-process (and
    `gateway_transport` play a gateway that does not answer);
    `today` fixes the date the rules (lateness, campaigns) use."""
    settings = settings or ActionsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(transport=conventions_transport, timeout=httpx.Timeout(5.0)) as http,
            httpx.AsyncClient(
                transport=gateway_transport,
                timeout=httpx.Timeout(settings.gateway_timeout_seconds),
            ) as gateway_http,
        ):
            signer = app.state.internal_signer
            client = ConventionRefClient(http, signer, settings.conventions_url)
            replica = ConventionRefReplica(convention_ref, client, app.state.sessionmaker)
            app.state.actions = ActionsContext(
                settings=settings,
                replica=replica,
                people=PersonnesClient(gateway_http, signer, settings.gateway_url),
                today=today or _today,
            )
            # The replica's periodic catch-up is a job (services/actions/jobs.py).
            yield

    return create_service_app(
        settings,
        title="Coopération — actions",
        description="Plan d'actions des CTG, suivis trimestriels, indicateurs et bilans.",
        routers=[
            plan_router,
            indicateurs_router,
            suivis_router,
            bilans_router,
            rapports_router,
            discussions_router,
            exports_router,
            export_jobs_router,
            imports_router,
            history_router,
            internal_router,
            feed_router,
            outbox_router(OUTBOX),
        ],
        idempotency_keys=idempotency_keys,
        extra_lifespan=lifespan,
        openapi_tags=[
            {"name": "axes", "description": "Les axes du plan d'actions d'une convention"},
            {"name": "actions", "description": "Les fiches-actions et leurs sous-actions"},
            {
                "name": "indicateurs",
                "description": "Indicateurs de réalisation et de résultat, cibles et valeurs",
            },
            {"name": "suivis", "description": "Les suivis trimestriels des actions"},
            {
                "name": "campagnes",
                "description": "Campagnes de suivi trimestrielles : échéances et avancement",
            },
            {"name": "bilans", "description": "Points d'étape, bilan intermédiaire et final"},
            {
                "name": "discussions",
                "description": "Les fils de commentaires des fiches-actions et des suivis",
            },
            {
                "name": "exports",
                "description": "Le tableau de suivi en ODS, XLSX ou CSV ; les exports "
                "volumineux (une Caf) préparés en tâche de fond",
            },
            {
                "name": "imports",
                "description": "Importer un plan d'actions existant (XLSX, ODS, CSV) : essai, "
                "rapport, validation",
            },
            {
                "name": "historique",
                "description": "Qui a changé quoi, quand, par quelle application",
            },
            {"name": "interne", "description": "Routes réservées aux services de la suite"},
        ],
    )
