"""A convention's history feed, merged by the gateway across the services: a service
that is frozen or down is the feed's 504 or 503, never a page without its part."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest

from coop.stack import free_port
from gateway.app import create_app
from gateway.historique import FEED_SOURCES
from tests.gateway.conftest import gateway_settings
from tests.gateway.echo_service import create_echo_service
from tests.gateway.support import NO_DATABASE, StaticGrantResolver, bearer, claims, running_idp
from tests.gateway.support import sign as sign_token
from tests.support.problems import assert_problem
from tests.support.served import served

READ_TIMEOUT = 0.5
SLACK = 1.5


@dataclass
class Front:
    client: httpx.AsyncClient
    headers: dict[str, str]


async def _front(
    stack: AsyncExitStack, tmp: pytest.TempPathFactory, replaced: dict[str, str]
) -> Front:
    idp, idp_transport = await stack.enter_async_context(running_idp(tmp.mktemp("idp")))
    urls = {}
    for name in ("conventions", "actions", "documents"):
        if name in replaced:
            urls[name] = replaced[name]
            continue
        echo = create_echo_service(name, NO_DATABASE)
        await stack.enter_async_context(echo.router.lifespan_context(echo))
        urls[name] = await stack.enter_async_context(served(echo))
    settings = gateway_settings(
        service_urls=urls, rate_limit_enabled=False, proxy_read_timeout_seconds=READ_TIMEOUT
    )
    app = create_app(settings, grant_resolver=StaticGrantResolver(), oidc_transport=idp_transport)
    await stack.enter_async_context(app.router.lifespan_context(app))
    url = await stack.enter_async_context(served(app))
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
    token = sign_token(idp.state.key_store, claims("p-1", name="Paule Un"))
    return Front(client, bearer(token))


@pytest.fixture(scope="module")
async def answering(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Front]:
    async with AsyncExitStack() as stack:
        yield await _front(stack, tmp_path_factory, {})


PATH = f"/api/v1/conventions/{uuid.uuid4()}/historique"


async def test_every_service_gives_its_part_with_the_readers_name_and_client(
    answering: Front,
) -> None:
    response = await answering.client.get(PATH, headers=answering.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert sorted(e["source"] for e in items) == sorted(FEED_SOURCES)
    assert {(e["auteur_nom"], e["client"]) for e in items} == {("Paule Un", "ctg-dans-ma-poche")}
    assert all(e["transition"] == e["evenement"] for e in items)  # the former name, kept
    # Deprecated since 4 December 2026 (RFC 9745), still served: no Sunset.
    assert response.headers["deprecation"] == "@1796342400"
    assert "sunset" not in response.headers


@pytest.mark.parametrize("service", FEED_SOURCES)
async def test_a_frozen_service_is_the_feeds_504(
    tmp_path_factory: pytest.TempPathFactory, frozen_service: str, service: str
) -> None:
    async with AsyncExitStack() as stack:
        front = await _front(stack, tmp_path_factory, {service: frozen_service})
        started = time.monotonic()
        response = await front.client.get(PATH, headers=front.headers)
        assert time.monotonic() - started < READ_TIMEOUT + SLACK
    problem = assert_problem(response, 504)
    assert service in problem["detail"]


@pytest.mark.parametrize("service", FEED_SOURCES)
async def test_a_service_down_is_the_feeds_503(
    tmp_path_factory: pytest.TempPathFactory, service: str
) -> None:
    async with AsyncExitStack() as stack:
        down = f"http://127.0.0.1:{free_port()}"
        front = await _front(stack, tmp_path_factory, {service: down})
        response = await front.client.get(PATH, headers=front.headers)
    problem = assert_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    assert service in problem["detail"]
