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
