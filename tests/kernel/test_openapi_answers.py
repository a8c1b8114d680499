"""Each operation's documented answers are derived from its route (`kernel.openapi`):
its dependencies, the domain errors its code raises, the conditional headers it reads.
The contract test (`tests/contract/`) checks the result against the running suite;
these check the derivation on its own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from kernel.errors import PROBLEM_CONTENT_TYPE, Conflict, UnsupportedMediaType
from kernel.raised import raised_by
from services.conventions import endpoints_lifecycle
from services.conventions.app import create_app as create_conventions
from services.documents import endpoints as documents_endpoints
from services.documents.app import create_app as create_documents

PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Probleme"}}}


@pytest.fixture(scope="module")
def conventions() -> dict[str, Any]:
    app: FastAPI = create_conventions()
    return app.openapi()


def _responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def test_a_change_under_if_match_says_so(conventions: dict[str, Any]) -> None:
    """PATCH of a convention: If-Match required (428 without it, 412 stale), its right's
    401/403/404, the rule's 409, 422 for its body, 503 for its database; each a problem;
    the ETag on its answer."""
    operation = conventions["paths"]["/api/v1/conventions/{convention_id}"]["patch"]
    responses = operation["responses"]
    assert set(responses) == {"200", "401", "403", "404", "409", "412", "422", "428", "503"}
    for code, response in responses.items():
        if int(code) >= 400:
            assert response["content"] == PROBLEM, code
    assert "ETag" in responses["200"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    (if_match,) = [p for p in operation["parameters"] if p["name"] == "If-Match"]
    assert if_match["in"] == "header"
    assert if_match["required"] is True


def test_a_transition_accepting_if_match_does_not_require_it(conventions: dict[str, Any]) -> None:
    operation = conventions["paths"]["/api/v1/conventions/{convention_id}/signature"]["post"]
    (if_match,) = [p for p in operation["parameters"] if p["name"] == "If-Match"]
    assert if_match["required"] is False
    assert "428" not in operation["responses"]
    # The service refuses an incomplete convention (service_lifecycle.sign).
    assert "409" in operation["responses"]
    # Idempotency-Key, read by the POST's guard, is a documented header.
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}


def test_a_creation_says_where_and_that_it_may_be_a_replay(conventions: dict[str, Any]) -> None:
    created = _responses(conventions, "/api/v1/conventions", "post")["201"]
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(created["headers"])
    unauthorized = _responses(conventions, "/api/v1/conventions", "post")["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_a_read_documents_its_conditional_read(conventions: dict[str, Any]) -> None:
    operation = conventions["paths"]["/api/v1/conventions/{convention_id}"]["get"]
    assert set(operation["responses"]) == {"200", "304", "401", "404", "422", "503"}
    assert "content" not in operation["responses"]["304"]
    assert "If-None-Match" in {p["name"] for p in operation["parameters"]}


def test_only_the_answers_a_route_can_give(conventions: dict[str, Any]) -> None:
    """Not every status everywhere: a list reads no If-Match, refuses no rule."""
    responses = _responses(conventions, "/api/v1/conventions", "get")
    assert set(responses) == {"200", "400", "401", "422", "503"}  # 400: a bad cursor


def test_validation_errors_are_problems_not_fastapi_s(conventions: dict[str, Any]) -> None:
    schemas = conventions["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["Probleme"]["required"]) == {"type", "title", "status", "detail"}
    assert schemas["Probleme"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/ErreurDeChamp"
    }
    for item in conventions["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                assert response["description"] != "Successful Response"
                assert response["description"] != "Validation Error"


def test_errors_are_read_through_the_calls_a_route_makes() -> None:
    """The signature's refusals are raised in service_lifecycle, the upload's 415 by
    the multipart parser the upload builds (a method of an object, not the route)."""
    assert Conflict in raised_by(endpoints_lifecycle.sign)
    assert UnsupportedMediaType in raised_by(documents_endpoints.create_version)


def test_a_download_documents_ranges() -> None:
    document = create_documents().openapi()
    operation = document["paths"]["/api/v1/documents/{document_id}/contenu"]["get"]
    assert {"200", "206", "304", "416"} <= set(operation["responses"])
    assert "*/*" in operation["responses"]["200"]["content"]
    assert {"Range", "If-Range", "If-None-Match"} <= {p["name"] for p in operation["parameters"]}


def test_the_gateway_s_own_routes_document_authentication() -> None:
    document = create_gateway().openapi()
    responses = _responses(document, "/api/v1/moi", "get")
    # The token (401), the caller's budget (429), the identity provider (503).
    assert {"401", "429", "503"} <= set(responses)
    assert "422" not in responses
    assert "409" not in responses
