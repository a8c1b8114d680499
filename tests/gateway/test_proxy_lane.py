"""The proxy lane: proxied paths skip the framework, never the gateway's own middleware."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.identity import CallerIdentity
from kernel.observability import JsonFormatter
from kernel.principal import Principal
from tests.gateway.conftest import GatewayRig, RigFactory
from tests.gateway.support import bearer, claims, sign
from tests.support.apps import metrics_text


def token(rig: GatewayRig, sub: str = "p-1") -> dict[str, str]:
    return bearer(sign(rig.store, claims(sub)))


async def test_a_proxied_request_is_logged_once_and_counted_by_its_template(
    rig: GatewayRig, caplog: pytest.LogCaptureFixture
) -> None:
    convention = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="coop.access"):
        response = await rig.client.get(
            f"/api/v1/conventions/{convention}", headers={**token(rig), "x-request-id": "lane-1"}
        )
    assert response.status_code == 200
    everything = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    lines = [line for line in everything if line.get("app") == "gateway"]
    assert len(lines) == 1
    assert lines[0]["route"] == "/api/v1/conventions/{id}"
    assert lines[0]["status"] == 200
    assert lines[0]["principal"] == "p-1"
    assert lines[0]["app"] == "gateway"
    metrics = metrics_text(rig.app)
    assert 'route="/api/v1/conventions/{id}"' in metrics
    assert str(convention) not in metrics


class StampMiddleware:
    """A middleware added to the app after it was built, like any later addition."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamp", b"1")]
            await send(message)

        await self.app(scope, receive, stamped)


class BrokenResolver:
    """A grant resolver with a bug in it."""

    async def principal_for(self, identity: CallerIdentity) -> Principal:
        raise RuntimeError("resolver bug")


@pytest.fixture
async def stamped_rig(make_rig: RigFactory) -> AsyncIterator[GatewayRig]:
    # Started before the test (the app's logging set-up would drop caplog's handler).
    async with make_rig(
        resolver=BrokenResolver(), prepare=lambda app: app.add_middleware(StampMiddleware)
    ) as rig:
        yield rig


async def test_the_apps_middleware_runs_on_both_paths_and_a_bug_is_a_logged_500_problem(
    stamped_rig: GatewayRig, caplog: pytest.LogCaptureFixture
) -> None:
    client, store = stamped_rig.client, stamped_rig.store
    own_route = await client.get("/healthz")
    assert own_route.headers["x-stamp"] == "1"
    refused = await client.get("/api/v1/conventions")
    assert refused.status_code == 401
    assert refused.headers["x-stamp"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"

    with caplog.at_level(logging.ERROR, logger="coop.errors"):
        broken = await client.get("/api/v1/conventions", headers=bearer(sign(store, claims("p-1"))))
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["type"].endswith("internal")
    assert broken.json()["instance"] == "/api/v1/conventions"
    assert "resolver bug" not in broken.text
    assert broken.headers["x-stamp"] == "1"
    assert broken.headers["x-content-type-options"] == "nosniff"
    assert broken.headers["x-request-id"]
    errors = [r for r in caplog.records if r.name == "coop.errors"]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


class ExhaustedPoolResolver:
    """A grant resolver whose database pool had no connection free in time (what
    SQLAlchemy's QueuePool raises; the real pool is exercised in tests/kernel)."""

    async def principal_for(self, identity: CallerIdentity) -> Principal:
        raise PoolTimeoutError("QueuePool limit of size 1 overflow 0 reached")


async def test_an_exhausted_database_pool_on_the_lane_is_a_503_as_on_the_framework(
    make_rig: RigFactory,
) -> None:
    async with make_rig(resolver=ExhaustedPoolResolver()) as rig:
        waiting = await rig.client.get("/api/v1/conventions", headers=token(rig))
    assert waiting.status_code == 503
    assert waiting.headers["content-type"] == "application/problem+json"
    assert waiting.headers["retry-after"] == "1"
    assert waiting.json()["instance"] == "/api/v1/conventions"
