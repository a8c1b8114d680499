"""Every error leaves as RFC 9457 problem+json, whatever raised it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from kernel.errors import InvalidPayload, domain_error_response
from tests.kernel.toy_app import create_toy_app
from tests.support.apps import running
from tests.support.problems import assert_problem


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_toy_app(database_url=database_url)) as c:  # type: ignore[arg-type]
        yield c


async def test_domain_error_carries_its_status_and_field_errors(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/conflict"), 409)
    assert body["detail"] == "Transition refusée."
    # Every entry has the same keys, whoever raised it (null when not known).
    assert body["errors"] == [
        {
            "pointer": None,
            "location": None,
            "field": "statut",
            "message": "non signée",
            "code": None,
        }
    ]
    assert body["instance"] == "/conflict"
    assert_problem(await client.get("/missing"), 404)


async def test_malformed_payload_is_422_with_each_field_named(client: httpx.AsyncClient) -> None:
    resp = await client.post("/things", json={"nom": "x" * 21, "quantite": "beaucoup"})
    body = assert_problem(resp, 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"nom", "quantite"}
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers == {"/nom", "/quantite"}
    for entry in body["errors"]:
        assert set(entry) == {"pointer", "location", "field", "message", "code"}
        assert entry["location"] == "body"


async def test_unknown_path_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await client.delete("/things"), 405)


async def test_unexpected_error_hides_internals(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/boom"), 500)
    assert "secret" not in str(body)


async def test_stale_and_missing_if_match(client: httpx.AsyncClient) -> None:
    assert_problem(await client.put("/versioned/2"), 428)
    stale = await client.put("/versioned/2", headers={"if-match": '"thing.1"'})
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"thing.2"'
    ok = await client.put("/versioned/2", headers={"if-match": '"thing.2"'})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "if_match", ["*", 'W/"thing.2"', '"thing.1", "thing.2"', '"thing.0", W/"thing.2"']
)
async def test_if_match_accepts_any_weak_or_listed_current_etag(
    client: httpx.AsyncClient, if_match: str
) -> None:
    ok = await client.put("/versioned/2", headers={"if-match": if_match})
    assert ok.status_code == 200, ok.text


async def test_if_match_list_without_the_current_etag_is_stale(client: httpx.AsyncClient) -> None:
    stale = await client.put("/versioned/2", headers={"if-match": '"thing.0", W/"thing.1"'})
    assert_problem(stale, 412)


def test_a_field_named_without_a_message_carries_the_problems_detail() -> None:
    resp = domain_error_response(
        InvalidPayload("Le titre ne peut pas être vide.", errors=[{"field": "titre"}]), "/x"
    )
    entry = orjson.loads(resp.body)["errors"][0]
    assert entry["field"] == "titre"
    assert entry["message"] == "Le titre ne peut pas être vide."
