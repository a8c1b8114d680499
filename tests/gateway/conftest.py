"""Fixtures of the gateway tests: a dev IdP in process, echo services served on loopback
(in the test's loop), the gateway."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.devidp.keys import KeyStore
from gateway.settings import GatewaySettings
from tests.gateway.echo_service import create_echo_service
from tests.gateway.support import (
    IDP_ISSUER,
    NO_DATABASE,
    CountingTransport,
    StaticGrantResolver,
    running_idp,
)
from tests.support.apps import running
from tests.support.served import served

SERVICES = ("conventions", "actions", "documents")


class GatewayRig:
    """The gateway in process, with a real dev IdP and real echo services behind it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        store: KeyStore,
        idp_transport: CountingTransport,
        resolver: StaticGrantResolver,
    ) -> None:
        self.client = client
        self.app = app
        self.store = store
        self.idp_transport = idp_transport
        self.resolver = resolver


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": NO_DATABASE,
        "oidc_issuer": IDP_ISSUER,
        "service_urls": {name: f"http://{name}.test" for name in SERVICES},
    }
    values.update(overrides)
    return GatewaySettings(**values)


RigFactory = Callable[..., Any]


@pytest.fixture
def make_rig(tmp_path: Path) -> RigFactory:
    @asynccontextmanager
    async def factory(
        *,
        resolver: Any = None,
        prepare: Callable[[FastAPI], None] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[GatewayRig]:
        """`overrides` are settings; `resolver` replaces the test resolver; `prepare`
        sees the app before it starts."""
        async with AsyncExitStack() as stack:
            idp_app, idp_transport = await stack.enter_async_context(running_idp(tmp_path))
            urls: dict[str, str] = {}
            for name in SERVICES:
                service = create_echo_service(name, NO_DATABASE)
                await stack.enter_async_context(service.router.lifespan_context(service))
                # Real HTTP between gateway and service, as in production (in this loop).
                urls[name] = await stack.enter_async_context(served(service))
            resolver = resolver or StaticGrantResolver()
            app = create_app(
                gateway_settings(**{"service_urls": urls, **overrides}),
                grant_resolver=resolver,
                oidc_transport=idp_transport,
            )
            if prepare is not None:
                prepare(app)
            client = await stack.enter_async_context(running(app))
            yield GatewayRig(client, app, idp_app.state.key_store, idp_transport, resolver)

    return factory


@pytest.fixture
async def rig(make_rig: RigFactory) -> AsyncIterator[GatewayRig]:
    async with make_rig() as r:
        yield r


@pytest.fixture(scope="module")
def frozen_service() -> Iterator[str]:
    """A service that is frozen: a listening socket nobody reads (the kernel completes
    the connections in its backlog, nothing ever answers)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
