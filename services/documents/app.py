"""The documents service app (port 8003)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.app import create_service_app
from kernel.convention_ref import ConventionRefClient, ConventionRefReplica
from services.documents.antivirus import ClamdClient
from services.documents.context import DocumentsContext
from services.documents.endpoints import router
from services.documents.endpoints_historique import internal_router as feed_router
from services.documents.endpoints_historique import router as history_router
from services.documents.endpoints_internal import router as internal_router
from services.documents.models import convention_ref, idempotency_keys
from services.documents.settings import DocumentsSettings, StorageBackend
from services.documents.storage import FilesystemStorage, Storage
from services.documents.storage_s3 import S3Storage

ANTIVIRUS_HEADER = (b"x-coop-antivirus", "désactivé".encode("latin-1"))


class AntivirusDisabledHeader:
    """Every response (downloads and problems included) says the scan is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), ANTIVIRUS_HEADER]
            await send(message)

        await self.app(scope, receive, send_with_header)


async def open_storage(settings: DocumentsSettings) -> Storage:
    if settings.storage_backend is StorageBackend.s3:
        secret = settings.s3_secret_access_key
        return await S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
        ).open(create_bucket=not settings.is_production)
    return FilesystemStorage(settings.storage_root)


def make_scanner(settings: DocumentsSettings) -> ClamdClient | None:
    if not settings.antivirus:
        return None
    return ClamdClient(settings.clamd_address, settings.clamd_timeout_seconds)


def create_app(
    settings: DocumentsSettings | None = None,
    *,
    conventions_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or DocumentsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = await open_storage(settings)
        http = httpx.AsyncClient(transport=conventions_transport, timeout=10.0)
        try:
            replica = ConventionRefReplica(
                convention_ref,
                ConventionRefClient(http, app.state.internal_signer, settings.conventions_url),
                app.state.sessionmaker,
            )
            ctx = DocumentsContext(settings, storage, make_scanner(settings), replica)
            app.state.documents = ctx
            # The replica's catch-up and the antivirus rescan are jobs (jobs.py).
            yield
        finally:
            await http.aclose()
            await storage.close()

    app = create_service_app(
        settings,
        title="Coopération — documents",
        description=(
            "Documents des CTG et leurs versions : dépôt en flux, analyse antivirus, "
            "corbeille, téléchargement (Range)."
        ),
        routers=[router, history_router, feed_router, internal_router],
        idempotency_keys=idempotency_keys,
        extra_lifespan=lifespan,
        openapi_tags=[
            {"name": "documents", "description": "Documents et versions"},
            {
                "name": "historique",
                "description": "Qui a fait quoi, quand, avec quelle application",
            },
        ],
    )
    if not settings.antivirus:
        app.add_middleware(AntivirusDisabledHeader)
    return app
