"""The gateway and the development identity provider as real processes, over loopback:
the provider rotating its keys, and a person logging in with code + PKCE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from joserfc import jws

from coop.demo_ids import demo_id
from coop.ports import free_port
from tests.gateway.servers import (
    Server,
    echo_server,
    gateway_server,
    idp_server,
    started_servers,
)
from tests.gateway.support import authorize, bearer, pkce_pair

PATH = "/api/v1/conventions"
# The provider lets the gateway keep its keys this long (Cache-Control max-age).
JWKS_MAX_AGE = 1


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """(gateway, identity provider)."""
    with started_servers() as started:
        idp = started.add(
            idp_server(
                tmp_path_factory.mktemp("idp"), COOP_IDP_JWKS_MAX_AGE_SECONDS=str(JWKS_MAX_AGE)
            )
        )
        # The gateway fetches the provider's keys as it starts: the provider first.
        idp.wait_ready()
        conventions = started.add(echo_server("conventions"))
        nowhere = f"http://127.0.0.1:{free_port()}"
        urls = {"conventions": conventions.url, "actions": nowhere, "documents": nowhere}
        gateway = started.add(gateway_server(idp, urls))
        started.ready()
        yield gateway, idp


@pytest.fixture
async def clients(
    servers: tuple[Server, Server],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    gateway, idp = servers
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=10) as gateway_client,
        httpx.AsyncClient(base_url=idp.url, timeout=10) as idp_client,
    ):
        yield gateway_client, idp_client


async def dev_token(idp: httpx.AsyncClient, persona: str = "caf-agent") -> str:
    response = await idp.post("/dev/token", params={"persona": persona})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def kid(token: str) -> str:
    return str(jws.extract_compact(token.encode()).headers()["kid"])


async def test_the_gateway_follows_the_providers_key_rotation(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """A key published since the last fetch verifies at once, even right after a
    scheduled refresh; a key the provider retires stops working at the gateway's next
    refresh, for the tokens it had verified and remembered too."""
    gateway, idp = clients
    before = await dev_token(idp)
    assert (await gateway.get(PATH, headers=bearer(before))).status_code == 200
    # The keys' max-age passes: this request refreshes them (a scheduled refresh).
    await asyncio.sleep(JWKS_MAX_AGE + 0.2)
    assert (await gateway.get(PATH, headers=bearer(before))).status_code == 200
    # The provider rotates right after: the new key's tokens are accepted at once.
    assert (await idp.post("/dev/rotate")).status_code == 200
    after = await dev_token(idp)
    assert kid(after) != kid(before)
    assert (await gateway.get(PATH, headers=bearer(after))).status_code == 200
    # The previous key is still published: its tokens still work.
    assert (await gateway.get(PATH, headers=bearer(before))).status_code == 200

    # The current key leaks: the provider retires it at once.
    assert (await idp.post("/dev/rotate", params={"retire": "true"})).status_code == 200
    await asyncio.sleep(JWKS_MAX_AGE + 0.2)
    refused = await gateway.get(PATH, headers=bearer(after))
    assert refused.status_code == 401, refused.text
    assert 'error_description="unknown signing key"' in refused.headers["www-authenticate"]
    newest = await dev_token(idp)
    assert (await gateway.get(PATH, headers=bearer(newest))).status_code == 200


async def test_a_person_logs_in_with_code_and_pkce_and_calls_the_api(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """The mobile app's flow end to end: the person (not the app) reaches the service."""
    gateway, idp = clients
    verifier, challenge = pkce_pair()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    back = await authorize(
        idp, "collectivite-referent", challenge=challenge, redirect_uri=redirect_uri
    )
    answer = await idp.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back.params["code"],
            "redirect_uri": redirect_uri,
            "client_id": "ctg-dans-ma-poche",
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    seen = (await gateway.get(PATH, headers=bearer(token))).json()
    assert seen["kind"] == "person"
    assert seen["subject"] == str(demo_id("person:collectivite-referent"))
