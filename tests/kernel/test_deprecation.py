"""A deprecated operation or field is announced on every answer concerned and in the
OpenAPI document (`kernel.deprecation`; docs/api.md, « Versions et compatibilité »):
`Deprecation` (RFC 9745), `Sunset` (RFC 8594) once the withdrawal date is announced,
`Link` rel="deprecation", and `deprecated: true`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.kernel.toy_app import create_toy_app
from tests.support.apps import running

# 4 December 2026, 00:00 UTC, in seconds since the epoch (RFC 9745's structured date).
SINCE = "@1796342400"
SUNSET = "Fri, 31 Dec 2027 00:00:00 GMT"


@pytest.fixture
def app(database_url: str) -> FastAPI:
    return create_toy_app(database_url=database_url)  # type: ignore[return-value]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as c:
        yield c


async def test_a_deprecated_operation_says_so_on_every_answer(client: httpx.AsyncClient) -> None:
    for path, status in (("/old-things/1", 200), ("/old-things/2", 404)):
        response = await client.get(path)
        assert response.status_code == status
        assert response.headers["Deprecation"] == SINCE
        assert response.headers["Sunset"] == SUNSET
        assert response.headers["Link"] == '<https://coop.example/changements>; rel="deprecation"'


async def test_a_deprecated_field_marks_the_answers_that_give_or_take_it(
    client: httpx.AsyncClient,
) -> None:
    """No withdrawal announced (a field of /api/v1 stays): `Deprecation` alone."""
    given = await client.get("/measure")
    taken = await client.post("/measures", json={"valeur": 2})
    for response in (given, taken):
        assert response.status_code == 200
        assert response.headers["Deprecation"] == SINCE
        assert "Sunset" not in response.headers
        assert "Link" not in response.headers
    current = await client.post("/things", json={"nom": "neuve", "quantite": 1})
    assert current.status_code == 200
    assert "Deprecation" not in current.headers


def test_the_openapi_document_says_what_is_deprecated(app: FastAPI) -> None:
    document: dict[str, Any] = app.openapi()
    old = document["paths"]["/old-things/{thing_id}"]["get"]
    assert old["deprecated"] is True
    assert "200" in old["responses"]
    for code, response in old["responses"].items():
        assert {"Deprecation", "Sunset", "Link"} <= set(response["headers"]), code
    field = document["components"]["schemas"]["Measure"]["properties"]["ancienne_valeur"]
    assert field["deprecated"] is True
    assert "deprecated" not in document["components"]["schemas"]["Measure"]["properties"]["valeur"]
    measure = document["paths"]["/measure"]["get"]
    assert "deprecated" not in measure
    assert "Sunset" not in measure["responses"]["200"]["headers"]
    assert "Deprecation" in measure["responses"]["200"]["headers"]
    things = document["paths"]["/things"]["post"]
    assert "Deprecation" not in things["responses"]["200"].get("headers", {})
