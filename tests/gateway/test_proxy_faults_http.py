"""A service that is frozen, or slow on a document transfer, through the gateway over
real HTTP: the gateway served by granian on loopback, its production transport, real
sockets behind it (not the transport's own tests: these survive its replacement).

A frozen service accepts connections and never answers: here a listening socket
nobody reads (the kernel completes the connections in its backlog).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest

from gateway.app import create_app
from gateway.proxy.routing import RoutingTable, is_transfer
from gateway.settings import GatewaySettings
from tests.gateway.conftest import gateway_settings
from tests.gateway.echo_service import create_echo_service
from tests.gateway.support import NO_DATABASE, StaticGrantResolver, bearer, claims, running_idp
from tests.gateway.support import sign as sign_token
from tests.support.problems import assert_problem
from tests.support.served import served

READ_TIMEOUT = 0.5
TRANSFER_READ_TIMEOUT = 5.0
# Room for a busy test machine.
SLACK = 1.5


@dataclass
class Front:
    client: httpx.AsyncClient  # to the gateway, over HTTP
    headers: dict[str, str]


@pytest.fixture(scope="module")
async def front(
    tmp_path_factory: pytest.TempPathFactory, frozen_service: str
) -> AsyncIterator[Front]:
    async with AsyncExitStack() as stack:
        idp, idp_transport = await stack.enter_async_context(
            running_idp(tmp_path_factory.mktemp("idp"))
        )
        documents = create_echo_service("documents", NO_DATABASE)
        await stack.enter_async_context(documents.router.lifespan_context(documents))
        documents_url = await stack.enter_async_context(served(documents))
        settings = gateway_settings(
            service_urls={"conventions": frozen_service, "documents": documents_url},
            rate_limit_enabled=False,
            proxy_read_timeout_seconds=READ_TIMEOUT,
            proxy_transfer_read_timeout_seconds=TRANSFER_READ_TIMEOUT,
        )
        app = create_app(
            settings, grant_resolver=StaticGrantResolver(), oidc_transport=idp_transport
        )
        await stack.enter_async_context(app.router.lifespan_context(app))
        url = await stack.enter_async_context(served(app))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        yield Front(client, bearer(sign_token(idp.state.key_store, claims("p-1"))))


async def test_a_frozen_service_is_a_504_within_the_read_timeout(front: Front) -> None:
    started = time.monotonic()
    response = await front.client.get("/api/v1/conventions", headers=front.headers)
    elapsed = time.monotonic() - started
    problem = assert_problem(response, 504)
    assert problem["detail"] == "Le service conventions a mis trop de temps à répondre."
    assert elapsed < READ_TIMEOUT + SLACK, f"{elapsed:.1f} s"


async def test_document_uploads_and_downloads_keep_their_longer_read_timeout(
    front: Front,
) -> None:
    """A service that takes longer than the API calls' read timeout to answer an upload
    (it scans and stores it) or to start a download is waited for."""
    slow = {"lent": str(READ_TIMEOUT * 3)}
    upload = await front.client.post(
        "/api/v1/documents", params=slow, headers=front.headers, content=b"x" * 1000
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["bytes"] == 1000
    download = await front.client.get(
        "/api/v1/documents/1000/contenu", params=slow, headers=front.headers
    )
    assert download.status_code == 200, download.text
    assert len(download.content) == 1000


def test_ordinary_api_calls_get_a_shorter_read_timeout_than_transfers() -> None:
    """What clients are told (docs/api.md): a frozen service is a 504 after 10 s on an
    API call, 30 s on a document upload or download."""
    settings = GatewaySettings()
    assert settings.proxy_read_timeout_seconds == 10
    assert settings.proxy_transfer_read_timeout_seconds == 30


@pytest.mark.parametrize(
    ("method", "path", "transfer"),
    [
        ("POST", "/api/v1/documents", True),
        ("POST", "/api/v1/documents/d-1/versions", True),
        ("GET", "/api/v1/documents/d-1/contenu", True),
        ("HEAD", "/api/v1/documents/d-1/versions/2/contenu", True),
        ("GET", "/api/v1/documents", False),
        ("GET", "/api/v1/documents/d-1/versions", False),
        ("PATCH", "/api/v1/documents/d-1", False),
        ("POST", "/api/v1/documents/d-1/restauration", False),
        ("GET", "/api/v1/conventions/c-1/documents", False),
    ],
)
def test_which_document_requests_are_transfers(method: str, path: str, transfer: bool) -> None:
    target = RoutingTable().match(path)
    assert target is not None
    assert is_transfer(target.service, method, path) is transfer
    assert not is_transfer("actions", method, path)
