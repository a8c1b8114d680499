"""The gateway app: the one public door of Coopération.

Request path (outermost first): CORS, security headers, request id + access log (and
the access journal, gateway.journal), body idle timeout, per-IP rate limit, body size
limit, then the proxy lane (gateway.proxy.lane): a path of the routing table goes to the
proxy endpoint, anything else to the router with the gateway's own routes
(habilitations, /moi, a convention's history merged across the services, OpenAPI, the
console at /docs: gateway.console).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import Scope

from gateway.auth.gatekeeper import Gatekeeper, InternalTokens
from gateway.auth.jwks import JwksCache
from gateway.auth.tokens import AccessTokenVerifier, ServiceAccountRule
from gateway.console import console_csp
from gateway.console import router as console_router
from gateway.desabonnement import router as unsubscribe_router
from gateway.habilitations.endpoints import router as habilitations_router
from gateway.habilitations.endpoints_internal import router as habilitations_internal_router
from gateway.habilitations.events import OUTBOX
from gateway.habilitations.models import idempotency_keys
from gateway.habilitations.resolver import DbGrantResolver
from gateway.historique import router as historique_router
from gateway.identity import GrantResolver
from gateway.journal import AccessJournal
from gateway.limits import (
    BodySizeLimitMiddleware,
    CORSMiddleware,
    IpRateLimitMiddleware,
    SecurityHeadersMiddleware,
    TokenBuckets,
    cors_options,
)
from gateway.proxy.forward import Proxy, build_client
from gateway.proxy.lane import ProxyLane
from gateway.proxy.openapi import OpenApiMerger
from gateway.proxy.routing import ACTIONS, DOCUMENTS, RoutingTable
from gateway.settings import GatewaySettings
from kernel.app import create_service_app
from kernel.outbox import outbox_router

VERSION = "1.0.0"


def _db_grant_resolver(app: FastAPI, settings: GatewaySettings) -> GrantResolver:
    return DbGrantResolver(app.state.sessionmaker, settings.grant_cache_seconds)


async def _identity_provider_ready(app: FastAPI) -> str | None:
    """Not ready while no token can be verified (issuer mismatch, provider unreachable)."""
    jwks: JwksCache = app.state.jwks
    return await jwks.readiness_problem()


def create_app(
    settings: GatewaySettings | None = None,
    *,
    grant_resolver: GrantResolver | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """`grant_resolver` and `oidc_transport` are for tests (an in-process identity
    provider); by default grants come from the database and every call goes over the
    network (the services always: tests serve them on loopback)."""
    settings = settings or GatewaySettings()
    table = RoutingTable()
    journal = AccessJournal(settings.access_journal_max_pending)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One line per proxied request is the access log's job, not httpx's.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        oidc_client = httpx.AsyncClient(
            timeout=settings.oidc_http_timeout_seconds, trust_env=False, transport=oidc_transport
        )
        verifier_box: list[AccessTokenVerifier] = []
        jwks = JwksCache(
            oidc_client,
            settings.discovery_url,
            issuer=settings.oidc_issuer,
            default_max_age=settings.jwks_default_max_age_seconds,
            max_max_age=settings.jwks_max_max_age_seconds,
            refresh_cooldown=settings.jwks_refresh_cooldown_seconds,
            on_change=lambda: verifier_box[0].forget_verified(),
        )
        verifier = AccessTokenVerifier(
            jwks,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            algorithms=settings.oidc_algorithms,
            leeway=settings.oidc_leeway_seconds,
            cache_size=settings.token_cache_size,
            service_account_rule=ServiceAccountRule(
                settings.oidc_service_account_claim, settings.oidc_service_account_value
            )
            if settings.oidc_service_account_claim
            else None,
        )
        verifier_box.append(verifier)
        # The keys are loaded (and a wrong issuer reported) at start-up, not by the
        # first request; start-up does not wait for an identity provider still starting.
        warm_up = asyncio.get_running_loop().create_task(jwks.warm_up())
        resolver = grant_resolver or _db_grant_resolver(app, settings)
        app.state.jwks = jwks
        app.state.token_verifier = verifier
        app.state.grant_resolver = resolver
        app.state.gatekeeper = Gatekeeper(
            verifier,
            resolver,
            TokenBuckets.share(
                settings.rate_limit_per_second,
                settings.rate_limit_burst,
                settings.workers,
                "par-appelant",
            )
            if settings.rate_limit_enabled
            else None,
        )
        app.state.internal_tokens = InternalTokens(
            app.state.internal_signer, settings.internal_token_ttl_seconds
        )
        clients = {
            name: build_client(
                connect=settings.proxy_connect_timeout_seconds,
                read=settings.proxy_read_timeout_seconds,
                transfer_read=settings.proxy_transfer_read_timeout_seconds,
                write=settings.proxy_write_timeout_seconds,
                pool=settings.proxy_pool_timeout_seconds,
                max_connections=settings.proxy_max_connections,
                keepalive=settings.proxy_keepalive_seconds,
            )
            for name in settings.service_urls
        }
        app.state.proxy = Proxy(clients, settings.service_urls)
        # The services' OpenAPI documents: rare calls, an ordinary client.
        openapi_http = httpx.AsyncClient(
            timeout=settings.proxy_read_timeout_seconds, follow_redirects=False, trust_env=False
        )
        # The same client relays the one-click unsubscribe (gateway.desabonnement).
        app.state.service_http = openapi_http
        app.state.openapi_merger = OpenApiMerger(
            {name: openapi_http for name in settings.service_urls},
            settings.service_urls,
            table,
            app.openapi,
            discovery_url=settings.public_discovery_url,
            cache_seconds=settings.openapi_cache_seconds,
            version=VERSION,
        )
        app.state.access_journal = journal
        try:
            async with journal.flushing(app.state.engine, settings.access_journal_flush_seconds):
                yield
        finally:
            warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warm_up
            for pool in clients.values():
                await pool.session.close()
            await openapi_http.aclose()
            await oidc_client.aclose()

    def body_limit(scope: Scope) -> int:
        target = table.match(scope["path"])  # the gateway's own routes: none
        if target is not None and target.service == DOCUMENTS:
            return settings.documents_max_body_bytes
        if target is not None and target.service == ACTIONS and scope["path"].endswith("/imports"):
            return settings.imports_max_body_bytes
        return settings.max_body_bytes

    ip_buckets = (
        TokenBuckets.share(
            settings.ip_rate_limit_per_second,
            settings.ip_rate_limit_burst,
            settings.workers,
            "par-adresse-ip",
        )
        if settings.rate_limit_enabled
        else None
    )
    app = create_service_app(
        settings,
        title="Coopération — passerelle",
        description="Authentification, habilitations et API publique unique.",
        routers=[
            console_router,
            unsubscribe_router,
            habilitations_router,
            habilitations_internal_router,
            outbox_router(OUTBOX),
            historique_router,
        ],
        openapi_tags=[
            {"name": "moi", "description": "L'appelant, ses habilitations et ses droits"},
            {
                "name": "habilitations",
                "description": "Les rôles des personnes sur les organisations",
            },
            {"name": "invitations", "description": "Inviter par e-mail une personne à un rôle"},
            {"name": "demandes d'accès", "description": "Demander un rôle et y répondre"},
            {"name": "clients machine", "description": "Les systèmes partenaires (OIDC)"},
            {"name": "historique", "description": "Qui a changé quoi, et quand"},
        ],
        idempotency_keys=idempotency_keys,
        extra_lifespan=lifespan,
        version=VERSION,
        # Inside the request-id middleware (so refusals are logged), outside the router.
        middleware=[
            # No pass-through layer on every request when rate limits are off.
            *(
                [Middleware(IpRateLimitMiddleware, buckets=ip_buckets)]
                if ip_buckets is not None
                else []
            ),
            Middleware(BodySizeLimitMiddleware, limit_for=body_limit),
            Middleware(ProxyLane, table=table),
        ],
        readiness_checks=[_identity_provider_ready],
        on_response=journal.record,
        # The kernel's /docs shows one app's schema; the gateway's console the whole
        # public API, in production too.
        docs=False,
    )
    app.add_middleware(
        SecurityHeadersMiddleware, console_csp=console_csp(settings), hsts=settings.hsts
    )
    if settings.cors_origins:
        options: dict[str, Any] = cors_options(settings.cors_origins)
        app.add_middleware(CORSMiddleware, **options)
    return app
