"""The merged public OpenAPI document, as the gateway serves it at /api/v1/openapi.json:
its own routes and each service's, merged by `merge_documents` (built from the apps'
own documents without serving them: wording and schemas do not depend on transport)."""

from __future__ import annotations

from typing import Any

from gateway.app import create_app as create_gateway
from gateway.proxy.openapi import merge_documents
from gateway.proxy.routing import RoutingTable
from services.actions.app import create_app as create_actions
from services.conventions.app import create_app as create_conventions
from services.documents.app import create_app as create_documents


def merged_document() -> dict[str, Any]:
    services = {
        "actions": create_actions().openapi(),
        "conventions": create_conventions().openapi(),
        "documents": create_documents().openapi(),
    }
    return merge_documents(
        create_gateway().openapi(),
        services,
        RoutingTable(),
        title="Coopération",
        version="1",
        discovery_url="http://idp.test/.well-known/openid-configuration",
    )
