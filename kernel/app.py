"""The factory every app uses: same lifespan, errors, logs, metrics and probes.

No `/metrics` route: the public port never shows them (kernel.server exports them on
the app's internal metrics port)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import Table, text
from starlette.middleware import Middleware

from kernel.database import (
    ReadPool,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
)
from kernel.deprecation import DeprecationMiddleware
from kernel.embedded_db import start_embedded
from kernel.errors import ServiceUnavailable, install_problem_handlers
from kernel.idempotency import IdempotencyStore
from kernel.input import NulCharacterMiddleware
from kernel.internal_token import InternalTokenSigner, InternalTokenVerifier
from kernel.observability import Metrics, RequestContextMiddleware, ResponseHook
from kernel.openapi import install_documented_openapi
from kernel.settings import CommonSettings
from kernel.slow_clients import BodyIdleTimeoutMiddleware

ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# A readiness check beyond the database: None when ready, else why not (French).
ReadinessCheck = Callable[[FastAPI], Awaitable[str | None]]


def resolve_database_url(settings: CommonSettings) -> str:
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.embedded_data_dir)


def internal_signer(settings: CommonSettings) -> InternalTokenSigner:
    """The app's signer of internal tokens (its requests and its jobs alike)."""
    return InternalTokenSigner(
        settings.app_name, settings.internal_signing_key, settings.internal_token_ttl_seconds
    )


def create_service_app(
    settings: CommonSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    extra_lifespan: ExtraLifespan | None = None,
    version: str = "1.0.0",
    openapi_tags: list[dict[str, Any]] | None = None,
    middleware: Sequence[Middleware] = (),
    readiness_checks: Sequence[ReadinessCheck] = (),
    idempotency_keys: Table | None = None,
    on_response: ResponseHook | None = None,
    docs: bool = True,
) -> FastAPI:
    """Build an app. Resources are created in the lifespan, never at import.
    `middleware`: the app's own, inside the kernel's (request id, logs, metrics, NUL, body
    idle timeout), first listed outermost; `readiness_checks` add to /readyz's database
    check (e.g. the gateway's issuer). `idempotency_keys`: the app's table of
    Idempotency-Keys (`kernel.idempotency`), for apps whose routers use an idempotent
    route class. `on_response`: told of each request once answered (the gateway's
    access journal). `docs`: FastAPI's Swagger UI at /docs outside production (False:
    the app serves its own, as the gateway does)."""
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database_url = resolve_database_url(settings)
        application_name = f"coop-{settings.app_name}"
        # This worker's share of the app's connections (kernel.server passes the count).
        budget = settings.db_budget()
        engine = create_engine(
            database_url,
            pool_size=budget.engine,
            # Never above the budget: a request waits for a pooled connection instead.
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout_seconds,
            application_name=application_name,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout=settings.db_statement_timeout_seconds,
        )
        read_pool = await ReadPool.open(
            database_url,
            size=budget.reads,
            acquire_timeout=settings.db_pool_timeout_seconds,
            application_name=application_name,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout=settings.db_read_statement_timeout_seconds,
        )
        app.state.engine = engine
        app.state.read_pool = read_pool
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.read_sessionmaker = create_read_sessionmaker(engine, read_pool)
        app.state.internal_verifier = InternalTokenVerifier(
            settings.app_name, settings.internal_trusted_keys
        )
        app.state.internal_signer = internal_signer(settings)
        # Everything built so far lives as long as the process: out of the collector's
        # sight, a full collection no longer walks the ~100k objects of the imports.
        gc.freeze()
        if idempotency_keys is not None:
            app.state.idempotency = IdempotencyStore.of(idempotency_keys, settings)
        try:
            if extra_lifespan is None:
                yield
            else:
                async with extra_lifespan(app):
                    yield
        finally:
            await read_pool.close()
            await engine.dispose()

    metrics = Metrics(settings.app_name)
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs" if docs and not settings.is_production else None,
        redoc_url=None,
        openapi_tags=openapi_tags,
        # Our own JSON logs and Prometheus metrics observe every request; FastAPI's
        # OpenTelemetry bridge would only look for a provider on each one.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    # Read by the tests; served by kernel.server's exporter on the internal port only.
    app.state.metrics = metrics
    install_problem_handlers(app)
    # Each added outside those before it: the app's own first, innermost.
    for own in reversed(middleware):
        app.add_middleware(own.cls, *own.args, **own.kwargs)
    app.add_middleware(DeprecationMiddleware)
    app.add_middleware(BodyIdleTimeoutMiddleware, seconds=settings.body_idle_timeout_seconds)
    # Inside the request-id middleware: a refused URL is logged like any answer.
    app.add_middleware(NulCharacterMiddleware, router=app.router)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, on_response=on_response)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> dict[str, str]:
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable("Base de données injoignable.") from exc
        for check in readiness_checks:
            problem = await check(request.app)
            if problem is not None:
                raise ServiceUnavailable(problem)
        return {"status": "ready"}

    for router in routers:
        app.include_router(router)
    install_documented_openapi(app)
    return app
