"""The guard: every public route of the gateway and of the services has rows in
the matrix, and every service route is reachable through the gateway's routing table."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable
from typing import Any, get_type_hints

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from gateway.app import create_app as create_gateway
from gateway.console import OPENAPI_PATH
from gateway.proxy.routing import RoutingTable
from kernel.idempotency import IdempotentRouteBase
from kernel.rights import RightCheck, RightRoute
from services.actions.app import create_app as create_actions
from services.conventions.app import create_app as create_conventions
from services.documents.app import create_app as create_documents
from services.notifications.app import create_app as create_notifications
from tests.authz import (
    test_matrix_actions,
    test_matrix_conventions,
    test_matrix_documents,
    test_matrix_gateway,
    test_matrix_notifications,
)
from tests.authz.world import Row

Route = tuple[str, str]


def public_routes(app: FastAPI) -> set[Route]:
    """(method, path template) of every public `/api/v1/` route of `app` (not internal,
    health, metrics or docs); HEAD is implied by GET."""
    found: set[Route] = set()
    for ctx in iter_route_contexts(app.routes):
        path = getattr(ctx, "path", None)
        if not path or not path.startswith("/api/v1/") or path == OPENAPI_PATH:
            continue
        found.update((m, path) for m in ctx.methods or () if m != "HEAD")
    return found


APPS: dict[str, tuple[Callable[[], FastAPI], dict[Route, list[Row]]]] = {
    "gateway": (create_gateway, test_matrix_gateway.ROWS),
    "conventions": (create_conventions, test_matrix_conventions.ROWS),
    "actions": (create_actions, test_matrix_actions.ROWS),
    "documents": (create_documents, test_matrix_documents.ROWS),
    "notifications": (create_notifications, test_matrix_notifications.ROWS),
}


def test_every_public_route_has_rows() -> None:
    problems = []
    for name, (factory, rows) in APPS.items():
        routes = public_routes(factory())
        assert routes, f"{name}: no public route found (route listing broken?)"
        problems += [f"{name}: no row for {m} {p}" for m, p in sorted(routes - set(rows))]
        problems += [
            f"{name}: rows for a route that is gone: {r}" for r in sorted(set(rows) - routes)
        ]
        problems += [f"{name}: empty rows for {r}" for r, v in rows.items() if not v]
    assert not problems, "\n".join(problems)


def test_every_service_route_is_routed_to_its_service() -> None:
    table = RoutingTable()
    wrong = []
    for name in ("conventions", "actions", "documents"):
        for _, path in public_routes(APPS[name][0]()):
            concrete = re.sub(r"\{[^}]+\}", "x1", path)
            if table.service_for(concrete) != name:
                wrong.append(f"{path} -> {table.service_for(concrete)}, not {name}")
    assert not wrong, "\n".join(wrong)


def test_every_public_post_honours_idempotency_keys() -> None:
    """Every POST of the public API, in every app, is built by the kernel's idempotent
    route class (a router created without it would store a retried POST twice)."""
    missing = []
    for name, (factory, _) in APPS.items():
        for ctx in iter_route_contexts(factory().routes):
            path = getattr(ctx, "path", None) or ""
            if not path.startswith("/api/v1/") or "POST" not in (ctx.methods or ()):
                continue
            if not isinstance(ctx.original_route, IdempotentRouteBase):
                missing.append(f"{name}: POST {path}")
    assert not missing, "\n".join(missing)


def _rights_of(dependant: Any) -> list[RightCheck[Any]]:
    found: list[RightCheck[Any]] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, RightCheck):
            found.append(sub.call)
        found += _rights_of(sub)
    return found


def test_every_public_route_declares_exactly_one_right() -> None:
    """The right a route requires is read at the route (`principal: ConventionWrite`):
    one right dependency per public route of every app, refused by the route's class,
    its object (when it names one) a UUID of the route's path, and the statuses it may
    answer known."""
    problems = []
    for name, (factory, _) in APPS.items():
        for ctx in iter_route_contexts(factory().routes):
            path = getattr(ctx, "path", None) or ""
            if not path.startswith("/api/v1/") or path == OPENAPI_PATH:
                continue
            route = f"{name}: {sorted(ctx.methods or ())} {path}"
            rights = _rights_of(ctx.dependant)
            if len(rights) != 1:
                problems.append(f"{route}: {len(rights)} right dependencies")
                continue
            (right,) = rights
            if not isinstance(ctx.original_route, RightRoute):
                problems.append(f"{route}: not a RightRoute, its right would not be refused")
            hints = get_type_hints(inspect.unwrap(ctx.endpoint), include_extras=False)
            param = right.path_param
            if param is not None and (f"{{{param}}}" not in path or hints.get(param) != uuid.UUID):
                problems.append(f"{route}: {right.right.name} finds its object by {param}")
            if 401 not in right.statuses:
                problems.append(f"{route}: {right.right.name} says nothing of 401")
    assert not problems, "\n".join(problems)
