"""Factory of the development identity provider (no database: keys live in a file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.devidp.authorize import AuthorizationCodes
from gateway.devidp.authorize import router as authorize_router
from gateway.devidp.endpoints import router
from gateway.devidp.keys import KeyStore
from gateway.devidp.settings import DevIdpSettings
from kernel.errors import install_problem_handlers
from kernel.observability import Metrics, RequestContextMiddleware
from kernel.settings import ProductionConfigError

# What a browser application (the gateway's console) calls itself; the sign-in page is
# navigated to, never fetched.
BROWSER_ENDPOINTS = frozenset({"/.well-known/openid-configuration", "/jwks", "/token"})


class BrowserEndpointsCors:
    """CORS for the console's origins on `BROWSER_ENDPOINTS` only."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            # Swagger UI sends X-Requested-With with the code it redeems.
            allow_headers=["accept", "content-type", "x-requested-with"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in BROWSER_ENDPOINTS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(settings: DevIdpSettings | None = None) -> FastAPI:
    settings = settings or DevIdpSettings()
    # The settings refuse production already; this also covers settings built without
    # validation (model_construct) or changed afterwards.
    if settings.is_production:
        raise ProductionConfigError("the development identity provider cannot run in production")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.key_store = KeyStore(settings.key_dir)
        app.state.key_store.current  # noqa: B018 (creates the first key at start-up)
        app.state.authorization_codes = AuthorizationCodes(settings.authorization_code_ttl_seconds)
        yield

    app = FastAPI(
        title="Coopération — fournisseur d'identité de développement",
        description="Émetteur OIDC minimal pour `make run` et les tests. Jamais en production.",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(BrowserEndpointsCors, origins=settings.console_origins)
    app.add_middleware(RequestContextMiddleware, metrics=Metrics(settings.app_name))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    app.include_router(authorize_router)
    return app
