"""The guard: every public route of the gateway and of the three services has rows in
the matrix, and every service route is reachable through the gateway's routing table."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from gateway.app import OPENAPI_PATH
from gateway.app import create_app as create_gateway
from gateway.proxy.routing import RoutingTable
from kernel.idempotency import IdempotentRouteBase
from services.actions.app import create_app as create_actions
from services.conventions.app import create_app as create_conventions
from services.documents.app import create_app as create_documents
from tests.authz import (
    test_matrix_actions,
    test_matrix_conventions,
    test_matrix_documents,
    test_matrix_gateway,
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
