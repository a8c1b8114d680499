"""Deprecation of an operation or a field of the public API: announced, never silent.

The versioning policy (docs/api.md, « Versions et compatibilité »): within /api/v1 a
change is additive; what is replaced stays served, declared deprecated here:

- an operation: `@deprecated(Deprecation(...))` under the route's decorator;
- a field (of a request body or of an answer): `Annotated[T, Deprecation(...)]`.

Then every answer of the operation, or of an operation that accepts or answers the
field, carries `Deprecation: @<seconds since the epoch>` (RFC 9745), `Sunset:
<HTTP-date>` (RFC 8594) once a withdrawal date is announced, and `Link: <...>;
rel="deprecation"` when a page says what replaces it; the OpenAPI document says `deprecated:
true` on the operation or field and lists these headers (`kernel.openapi`).
`DeprecationMiddleware` (installed by `kernel.app` in every app) adds the headers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any, TypeVar

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.fields import models_in

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Deprecation:
    """Since when something is deprecated, and the day it stops being served (if
    announced: within /api/v1 a field stays, so most have none)."""

    since: dt.date
    sunset: dt.date | None = None
    # Where an integrator reads what replaces it (a `Link` header, rel="deprecation").
    link: str | None = None

    def headers(self) -> dict[str, str]:
        midnight = dt.datetime.combine(self.since, dt.time(), dt.UTC)
        out = {"Deprecation": f"@{int(midnight.timestamp())}"}
        if self.sunset is not None:
            end = dt.datetime.combine(self.sunset, dt.time(), dt.UTC)
            out["Sunset"] = format_datetime(end, usegmt=True)
        if self.link is not None:
            out["Link"] = f'<{self.link}>; rel="deprecation"'
        return out

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A field declared `Annotated[T, Deprecation(...)]`: `deprecated: true` beside it.
        schema = handler(core_schema)
        schema["deprecated"] = True
        return schema


def earliest(deprecations: Iterable[Deprecation]) -> Deprecation | None:
    """The one deprecation an answer announces: the oldest, with the nearest sunset."""
    found = list(deprecations)
    if not found:
        return None
    sunsets = [d.sunset for d in found if d.sunset is not None]
    first = min(found, key=lambda d: d.since)
    return Deprecation(first.since, min(sunsets) if sunsets else None, first.link)


_OPERATIONS: dict[Callable[..., Any], Deprecation] = {}


def deprecated(deprecation: Deprecation) -> Callable[[F], F]:
    """Declare a route's endpoint deprecated (under the route's decorator)."""

    def mark(endpoint: F) -> F:
        _OPERATIONS[endpoint] = deprecation
        return endpoint

    return mark


def operation_deprecation(endpoint: Callable[..., Any] | None) -> Deprecation | None:
    return _OPERATIONS.get(endpoint) if endpoint is not None else None


def fields_deprecation(*annotations: Any) -> Deprecation | None:
    """The deprecation of the fields of the models `annotations` hold (nested models,
    lists, unions)."""
    return earliest(
        marker
        for annotation in annotations
        for model in models_in(annotation)
        for field in model.model_fields.values()
        for marker in field.metadata
        if isinstance(marker, Deprecation)
    )


def route_deprecation(route: Any) -> Deprecation | None:
    """What a route's answers announce: its own deprecation, or its body's or its
    answer's deprecated fields."""
    body = getattr(getattr(route, "body_field", None), "field_info", None)
    found = [
        operation_deprecation(getattr(route, "endpoint", None)),
        fields_deprecation(
            getattr(route, "response_model", None), getattr(body, "annotation", None)
        ),
    ]
    return earliest(d for d in found if d is not None)


class DeprecationMiddleware:
    """Adds the deprecation headers to the answers of a deprecated route (the matched
    route is in the scope once the router has run: read when the answer starts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Per route (by identity: routes are not hashable), computed at its first answer.
        self._headers: dict[int, tuple[object, list[tuple[bytes, bytes]]]] = {}

    def headers(self, route: object) -> list[tuple[bytes, bytes]]:
        known = self._headers.get(id(route))
        if known is None or known[0] is not route:
            deprecation = route_deprecation(route)
            headers = deprecation.headers() if deprecation else {}
            encoded = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
            known = self._headers[id(route)] = (route, encoded)
        return known[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                extra = self.headers(route) if route is not None else []
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
