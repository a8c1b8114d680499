"""A real service app (kernel factory, internal token verification) for proxy tests.

It stands in for a service behind the gateway: it echoes what it received (headers,
principal), streams bodies of any size both ways, and can be slow on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import StreamingResponse

from kernel.app import create_service_app
from kernel.internal_token import CallingService, CurrentPrincipal
from kernel.settings import CommonSettings

CHUNK = b"\x5a" * 65536


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/conventions")
    @router.get("/api/v1/conventions/{convention_id}")
    @router.get("/api/v1/documents/{document_id}")
    async def echo(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "service": request.app.state.settings.app_name,
            "path": request.url.path,
            "query": request.url.query,
            "subject": principal.subject,
            "kind": principal.kind.value,
            "name": principal.name,
            "client": principal.client,
            "grants": [g.model_dump(mode="json") for g in principal.grants],
            "headers": [[k, v] for k, v in request.headers.items()],
        }

    # `lent`: seconds the service takes before it answers (a scan, a slow storage).
    @router.post("/api/v1/documents")
    async def upload(
        request: Request, principal: CurrentPrincipal, lent: float = 0
    ) -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        await asyncio.sleep(lent)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @router.get("/api/v1/documents/{size}/contenu")
    async def download(
        size: int, principal: CurrentPrincipal, lent: float = 0
    ) -> StreamingResponse:
        await asyncio.sleep(lent)

        async def body() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                chunk = CHUNK[: min(left, len(CHUNK))]
                left -= len(chunk)
                yield chunk

        return StreamingResponse(
            body(),
            media_type="application/octet-stream",
            headers={"content-length": str(size), "x-content-type-options": "nosniff"},
        )

    @router.get("/api/v1/conventions/{convention_id}/lent")
    async def slow(seconds: float, principal: CurrentPrincipal) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "enfin"}

    @router.api_route(
        "/api/v1/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def anything(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        body = await request.body()
        return {
            "service": request.app.state.settings.app_name,
            "path": request.url.path,
            "method": request.method,
            "bytes": len(body),
        }

    # A part of a convention's history feed (gateway/historique.py): one entry, the
    # reader's name and client as the internal token gave them.
    @router.get("/internal/v1/conventions/{convention_id}/historique")
    async def feed(
        convention_id: str, request: Request, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        return {
            "items": [
                {
                    "id": 1,
                    "source": request.app.state.settings.app_name,
                    "objet_type": "convention",
                    "objet_id": convention_id,
                    "objet_libelle": None,
                    "parent_id": None,
                    "convention_id": convention_id,
                    "evenement": "lecture",
                    "le": "2026-05-01T12:00:00Z",
                    "auteur": principal.subject,
                    "auteur_nom": principal.name,
                    "client": principal.client,
                    "changements": [],
                    "motif": None,
                    "details": {},
                }
            ],
            "next_cursor": None,
        }

    @router.get("/internal/v1/secret")
    async def internal(service: CallingService) -> dict[str, str]:
        return {"secret": "internal"}

    return router


def create_echo_service(name: str, database_url: str) -> FastAPI:
    settings_cls = type(f"Echo{name.title()}Settings", (CommonSettings,), {"app_name": name})
    settings = settings_cls(database_url=database_url)
    return create_service_app(
        settings, title=f"echo {name}", description="proxy tests", routers=[_router()]
    )


def echo_service_from_env() -> FastAPI:
    """Server factory for the real-process tests (COOP_ECHO_NAME, COOP_ECHO_DATABASE_URL)."""
    return create_echo_service(os.environ["COOP_ECHO_NAME"], os.environ["COOP_ECHO_DATABASE_URL"])
