"""A route's right (kernel.rights), on the toy app: a caller holding none of its roles
is refused before the handler runs, 404 when the route's object is outside its scope,
and only once FastAPI found the request valid (a malformed request is a 422 for all)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.kernel import toy_app
from tests.support.apps import running
from tests.support.personas import CAF_A_AGENT, X_LECTEUR, auth_headers
from tests.support.problems import assert_problem

IN_SCOPE = uuid.UUID(int=0x11)
OUTSIDE = uuid.UUID(int=0x12)
THING = {"nom": "chose", "quantite": 1}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = toy_app.create_toy_app(database_url=database_url)
    async with running(app) as c:  # type: ignore[arg-type]
        yield c


async def test_a_caller_holding_the_role_reaches_the_handler(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        f"/things/{IN_SCOPE}", json=THING, headers=auth_headers(CAF_A_AGENT, "conventions")
    )
    assert resp.status_code == 200, resp.text
    assert toy_app.touched[-1] == IN_SCOPE


async def test_a_caller_without_the_role_is_refused_before_the_handler(
    client: httpx.AsyncClient,
) -> None:
    before = len(toy_app.touched)
    headers = auth_headers(X_LECTEUR, "conventions")
    refused = await client.patch(f"/things/{IN_SCOPE}", json=THING, headers=headers)
    problem = assert_problem(refused, 403)
    assert problem["detail"] == "Seuls les agents d'une Caf changent une chose."
    # Outside its scope, nothing is told of the object: the service's 404.
    assert_problem(await client.patch(f"/things/{OUTSIDE}", json=THING, headers=headers), 404)
    assert len(toy_app.touched) == before


async def test_a_malformed_request_is_a_422_whoever_sends_it(client: httpx.AsyncClient) -> None:
    headers = auth_headers(X_LECTEUR, "conventions")
    bad_body = await client.patch(f"/things/{OUTSIDE}", json={"nom": "x"}, headers=headers)
    assert_problem(bad_body, 422)
    bad_id = await client.patch("/things/pas-un-uuid", json=THING, headers=headers)
    assert_problem(bad_id, 422)
    # And a refusal noted for a request that never reached its handler does not
    # survive it: the next caller holding the role gets through.
    ok = await client.patch(
        f"/things/{IN_SCOPE}", json=THING, headers=auth_headers(CAF_A_AGENT, "conventions")
    )
    assert ok.status_code == 200, ok.text


async def test_without_a_token_it_is_a_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.patch(f"/things/{IN_SCOPE}", json=THING), 401)
