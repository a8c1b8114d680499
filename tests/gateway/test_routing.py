"""The routing table: every public route of every service goes to that service."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from coop.apps import APPS
from gateway.app import create_app
from gateway.proxy.routing import PUBLIC_ROUTES, RoutingTable
from tests.gateway.conftest import gateway_settings
from tests.gateway.support import NO_DATABASE, StaticGrantResolver

TABLE = RoutingTable()
SERVICES = sorted(TABLE.services)
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _service_openapi(name: str) -> dict[str, object]:
    spec = APPS[name]
    module_name, _, factory_name = spec.factory.partition(":")
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"the {name} service has not landed yet")
    factory = getattr(importlib.import_module(module_name), factory_name)
    settings = spec.settings_class()(database_url=NO_DATABASE)
    openapi: dict[str, object] = factory(settings).openapi()
    return openapi


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_route_of_a_service_routes_to_it(service: str) -> None:
    paths = _service_openapi(service)["paths"]
    assert isinstance(paths, dict)
    public = [p for p in paths if p.startswith("/api/")]
    assert public, f"{service} exposes no public route"
    wrong = {p: TABLE.service_for(p) for p in public if TABLE.service_for(p) != service}
    assert wrong == {}, f"routes of {service} the gateway sends elsewhere (or nowhere)"
    internal = [p for p in paths if p.startswith("/internal/")]
    assert all(TABLE.match(p) is None for p in internal)


def test_the_gateways_own_routes_are_not_shadowed_by_the_table() -> None:
    app = create_app(gateway_settings(), grant_resolver=StaticGrantResolver())
    own = [p for p in app.openapi()["paths"] if p.startswith("/api/")]
    assert all(TABLE.match(p) is None for p in own), own


def test_most_specific_template_wins() -> None:
    assert TABLE.service_for("/api/v1/conventions/1/actions") == "actions"
    assert TABLE.service_for("/api/v1/conventions/1/actions/2/suivis") == "actions"
    assert TABLE.service_for("/api/v1/conventions/1/documents") == "documents"
    assert TABLE.service_for("/api/v1/conventions/1/signataires/3") == "conventions"
    assert TABLE.service_for("/api/v1/conventions/1/") == "conventions"
    assert TABLE.service_for("/api/v1/moi") is None
    assert TABLE.service_for("/api/v1/moi/actions-a-renseigner") == "actions"
    assert TABLE.service_for("/api/v1/moi/notifications") == "notifications"
    assert TABLE.service_for("/api/v1/moi/notifications/1/lecture") == "notifications"
    assert TABLE.service_for("/api/v1/moi/habilitations") is None  # the gateway's own
    assert TABLE.service_for("/api/v1/conventionsX") is None
    assert TABLE.service_for("/api/v1/conventions/./x") is None
    assert {service for _, service in PUBLIC_ROUTES} == {
        "conventions",
        "actions",
        "documents",
        "notifications",
        "gateway",
    }
    # A convention's history is the gateway's own (merged across services), its
    # neighbours still the services'.
    assert TABLE.match("/api/v1/conventions/1/historique") is None
    assert TABLE.service_for("/api/v1/conventions/1/historique/x") == "conventions"
    assert TABLE.service_for("/api/v1/conventions/1/avenants") == "conventions"
