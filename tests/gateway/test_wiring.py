"""The gateway as `coop serve gateway` builds it: grants from the database resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.devidp.personas import PERSONAS
from tests.gateway.conftest import SERVICES, gateway_settings
from tests.gateway.echo_service import create_echo_service
from tests.gateway.support import NO_DATABASE, bearer, claims, running_idp, sign
from tests.support.apps import running
from tests.support.served import served


@pytest.fixture
async def gateway(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    async with AsyncExitStack() as stack:
        idp_app, idp_transport = await stack.enter_async_context(running_idp(tmp_path))
        urls: dict[str, str] = {}
        for name in SERVICES:
            service = create_echo_service(name, NO_DATABASE)
            await stack.enter_async_context(service.router.lifespan_context(service))
            urls[name] = await stack.enter_async_context(served(service))
        app = create_app(
            gateway_settings(database_url=database_url, service_urls=urls),
            oidc_transport=idp_transport,
        )
        client = await stack.enter_async_context(running(app))
        yield client, idp_app.state.key_store


async def test_database_resolver_and_habilitations_routes_are_wired(
    gateway: tuple[httpx.AsyncClient, object],
) -> None:
    client, store = gateway
    persona = PERSONAS["caf-agent"]
    token = bearer(sign(store, claims(persona.subject, email=persona.email)))  # type: ignore[arg-type]
    proxied = await client.get("/api/v1/conventions", headers=token)
    assert proxied.status_code == 200
    # The habilitations give the principal its local person id and its grants (none yet).
    assert proxied.json()["kind"] == "person"
    assert proxied.json()["grants"] == []
    moi = await client.get("/api/v1/moi", headers=token)
    assert moi.status_code == 200, moi.text
    assert (await client.get("/api/v1/moi")).status_code == 401
