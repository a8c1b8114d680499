"""A PostgreSQL that stalls (frozen, not down): fast 503s with Retry-After, never a hang.

The conventions service and the gateway are served over real HTTP, their database
reached through a relay that stops forwarding on demand (`tests/support/stalling.py`);
the shared test server itself is never frozen. Every wait on PostgreSQL is bounded by
the settings below: opening a connection, a statement's answer, a pooled connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from tests.gateway.support import IDP_ISSUER, bearer, claims, running_idp, sign
from tests.support.conventions import conventions_app
from tests.support.personas import CAF_A, CAF_A_AGENT, COLLECTIVITE_X, auth_headers
from tests.support.problems import assert_problem
from tests.support.served import served
from tests.support.stalling import StallingRelay, stalling_relay

TIMEOUTS: dict[str, Any] = {
    "db_connect_timeout_seconds": 0.5,
    "db_statement_timeout_seconds": 0.5,
    "db_read_statement_timeout_seconds": 0.5,
    "db_pool_timeout_seconds": 0.5,
}
# The longest a request may wait on a stalled PostgreSQL with these settings: a pooled
# connection, then opening one, then a statement (+ the half second given to a silent
# server), plus room for a busy test machine.
BOUND = 0.5 + 0.5 + (0.5 + 0.5) + 1.5


@dataclass
class Rig:
    relay: StallingRelay
    conventions: httpx.AsyncClient  # the service itself, with internal tokens
    gateway: httpx.AsyncClient
    token: dict[str, str]  # a person's access token, for the gateway


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> AsyncIterator[Rig]:
    async with AsyncExitStack() as stack:
        relay = await stack.enter_async_context(stalling_relay(database_url))
        service = conventions_app(relay.url, **TIMEOUTS)
        await stack.enter_async_context(service.router.lifespan_context(service))
        service_url = await stack.enter_async_context(served(service))
        idp, idp_transport = await stack.enter_async_context(
            running_idp(tmp_path_factory.mktemp("idp"))
        )
        settings = GatewaySettings(
            database_url=relay.url,
            oidc_issuer=IDP_ISSUER,
            service_urls={"conventions": service_url},
            rate_limit_enabled=False,
            **TIMEOUTS,
        )
        gateway = create_gateway(settings, oidc_transport=idp_transport)
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        gateway_url = await stack.enter_async_context(served(gateway))
        # Whatever a test left stalled flows again before the apps stop.
        stack.callback(relay.resume)
        client_timeout = httpx.Timeout(10.0)
        yield Rig(
            relay,
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=service_url, timeout=client_timeout)
            ),
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=gateway_url, timeout=client_timeout)
            ),
            bearer(sign(idp.state.key_store, claims("personne-figee"))),
        )


def _new_convention() -> dict[str, Any]:
    return {
        "caf_id": str(CAF_A),
        "echelon": "commune",
        "titre": "CTG figée",
        "date_debut": "2026-01-01",
        "date_fin": "2029-12-31",
        "thematiques": ["petite enfance"],
        "signataires": [
            {"organisation_id": str(org), "representant": "Rep", "date_signature": None}
            for org in (CAF_A, COLLECTIVITE_X)
        ],
    }


async def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


def _unavailable(response: httpx.Response, elapsed: float) -> None:
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    assert elapsed < BOUND, f"{elapsed:.1f} s"


async def test_a_service_route_answers_503_within_the_bounds_then_recovers(rig: Rig) -> None:
    headers = auth_headers(CAF_A_AGENT, "conventions")
    assert (await rig.conventions.get("/api/v1/conventions", headers=headers)).status_code == 200
    rig.relay.stall()
    try:
        # A typed read on a pooled connection: no answer to its statement.
        response, elapsed = await _timed(
            rig.conventions.get("/api/v1/conventions", headers=headers)
        )
        _unavailable(response, elapsed)
        assert "base de données ne répond pas" in response.json()["detail"]
        assert response.headers["retry-after"] == "5"
        # A write (the engine's connections), then one more read on a new connection
        # (the stalled one was cut): each within the bounds.
        body = _new_convention()
        response, elapsed = await _timed(
            rig.conventions.post("/api/v1/conventions", json=body, headers=headers)
        )
        _unavailable(response, elapsed)
        response, elapsed = await _timed(
            rig.conventions.get("/api/v1/conventions", headers=headers)
        )
        _unavailable(response, elapsed)
    finally:
        rig.relay.resume()
    assert (await rig.conventions.get("/api/v1/conventions", headers=headers)).status_code == 200


async def test_the_gateway_answers_503_within_the_bounds_on_moi_and_proxied_routes(
    rig: Rig,
) -> None:
    # Known to the gateway first (its grants cached): the proxied route reaches the service.
    assert (await rig.gateway.get("/api/v1/moi", headers=rig.token)).status_code == 200
    assert (await rig.gateway.get("/api/v1/conventions", headers=rig.token)).status_code == 200
    rig.relay.stall()
    try:
        response, elapsed = await _timed(rig.gateway.get("/api/v1/moi", headers=rig.token))
        _unavailable(response, elapsed)
        response, elapsed = await _timed(rig.gateway.get("/api/v1/conventions", headers=rig.token))
        _unavailable(response, elapsed)
    finally:
        rig.relay.resume()
    assert (await rig.gateway.get("/api/v1/moi", headers=rig.token)).status_code == 200
