"""The merged public OpenAPI document: each service's public paths, one set of components."""

from __future__ import annotations

import copy
from typing import Any

from gateway.proxy.openapi import merge_documents
from gateway.proxy.routing import RoutingTable


def _document(paths: dict[str, str], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            path: {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{schema}"}
                                }
                            }
                        }
                    }
                }
            }
            for path, schema in paths.items()
        },
        "components": {"schemas": schemas},
    }


def _ref(document: dict[str, Any], path: str) -> str:
    content = document["paths"][path]["get"]["responses"]["200"]["content"]
    return str(content["application/json"]["schema"]["$ref"])


def test_clashing_components_are_prefixed_and_shared_ones_kept_once() -> None:
    shared = {"type": "object", "properties": {"detail": {"type": "string"}}}
    conventions = _document(
        {"/api/v1/conventions": "Page", "/internal/v1/conventions/references": "Page"},
        {"Page": {"type": "object", "title": "conventions"}, "Problem": shared},
    )
    actions = _document(
        {"/api/v1/actions": "Page", "/api/v1/axes": "Problem"},
        {"Page": {"type": "object", "title": "actions"}, "Problem": shared},
    )
    sources = {"conventions": conventions, "actions": actions}
    before = copy.deepcopy(sources)

    merged = merge_documents(
        {"openapi": "3.1.0", "paths": {}},
        sources,
        RoutingTable(),
        title="Coopération",
        version="1",
        discovery_url="http://idp.test/.well-known/openid-configuration",
    )

    schemas = merged["components"]["schemas"]
    # The first service (by name) keeps the plain name; the other's is prefixed.
    assert schemas["Page"]["title"] == "actions"
    assert schemas["conventions_Page"]["title"] == "conventions"
    assert _ref(merged, "/api/v1/actions") == "#/components/schemas/Page"
    assert _ref(merged, "/api/v1/conventions") == "#/components/schemas/conventions_Page"
    # Identical definitions are one component, referenced as is.
    assert schemas["Problem"] == shared
    assert "actions_Problem" not in schemas
    assert _ref(merged, "/api/v1/axes") == "#/components/schemas/Problem"
    # Internal routes never appear; the services' own documents are left untouched.
    assert list(merged["paths"]) == ["/api/v1/actions", "/api/v1/axes", "/api/v1/conventions"]
    assert sources == before


def test_the_gateway_adds_its_own_answers() -> None:
    """Every proxied operation may be answered by the gateway itself: no valid token
    (401), over budget (429), headers too large (431), the service unreachable (503),
    too slow (504) or answering garbage (502); one taking a body, too large (413) or
    too slow to arrive (408). Its own routes get no proxy answers."""
    service = _document({"/api/v1/conventions": "Page"}, {"Page": {"type": "object"}})
    service["paths"]["/api/v1/conventions"]["post"] = {
        "requestBody": {"content": {"application/json": {"schema": {}}}},
        "responses": {"201": {"description": "Créé"}},
    }
    own = _document({"/api/v1/moi": "Moi"}, {"Moi": {"type": "object"}})

    merged = merge_documents(
        own,
        {"conventions": service},
        RoutingTable(),
        title="Coopération",
        version="1",
        discovery_url="http://idp.test/.well-known/openid-configuration",
    )

    def statuses(path: str, method: str) -> set[str]:
        return set(merged["paths"][path][method]["responses"])

    assert statuses("/api/v1/conventions", "get") == {
        "200", "401", "429", "431", "502", "503", "504"
    }  # fmt: skip
    assert statuses("/api/v1/conventions", "post") == {
        "201", "401", "408", "413", "429", "431", "502", "503", "504"
    }  # fmt: skip
    assert statuses("/api/v1/moi", "get") == {"200", "429", "431"}
    problem = merged["paths"]["/api/v1/conventions"]["get"]["responses"]["429"]
    assert "application/problem+json" in problem["content"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(problem["headers"])
