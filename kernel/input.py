"""Hostile or odd input, refused the same way by every app: a 422 problem in French.

- `Input`: the base of every write schema (JSON bodies; the documents service validates
  its multipart fields through it too). An unknown field is refused (`extra_forbidden`),
  and so is a NUL character in any string at any depth (`caractere_nul`): PostgreSQL
  cannot store it, so it used to end in a 500.
- `NulCharacterMiddleware`: the same refusal for the URL (path and query string), before
  routing and authentication; `kernel.app` installs it in every app.
- `ANNEE_MIN`..`ANNEE_MAX`: the one bound on the years users write: every date of an
  `Input` (a convention's dates, a signature, a bilan's period) and the periods the
  actions service parses (`2026-T1`, `2026`) through `check_plausible_year`. Outside it
  a year means nothing (`0000`) or overflows the calendar (the quarter after `9999-T4`,
  a due date after 31 December 9999): it used to end in a 500.
- `Numero`: a number in a path (a version's), within PostgreSQL's `integer`: past it
  the query itself failed (a 500), found by the contract test.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Path
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.errors import InvalidPayload, domain_error_response

NUL_CODE = "caractere_nul"
NUL_MESSAGE = "Le caractère NUL (U+0000) n'est pas accepté."

ANNEE_MIN = 2000
ANNEE_MAX = 2099
ANNEE_CODE = "annee_hors_bornes"
ANNEE_HORS_BORNES = f"Année hors des bornes acceptées ({ANNEE_MIN} à {ANNEE_MAX})."

# PostgreSQL's `integer`.
INT4_MAX = 2**31 - 1
Numero = Annotated[int, Path(ge=1, le=INT4_MAX, description="Numéro, à partir de 1.")]


def holds_nul(value: object) -> bool:
    """Whether a NUL character appears in `value` (a string, or strings in containers)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    return False


def plausible_year(year: int) -> bool:
    return ANNEE_MIN <= year <= ANNEE_MAX


def check_plausible_year(year: int) -> None:
    """Pydantic's 422 error for a year outside the bounds (a period's year)."""
    if not plausible_year(year):
        raise PydanticCustomError(ANNEE_CODE, ANNEE_HORS_BORNES)


def holds_implausible_date(value: object) -> bool:
    """Whether a date (or datetime) outside the accepted years appears in `value`."""
    if isinstance(value, dt.date):
        return not plausible_year(value.year)
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_implausible_date(item) for item in value)
    if isinstance(value, dict):
        return any(holds_implausible_date(v) for v in value.values())
    return False


class Input(BaseModel):
    """Every write schema's base: unknown fields, NUL characters and dates outside the
    accepted years are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_hostile(cls, value: Any) -> Any:
        # Nested models are Inputs too and check their own fields (with their path).
        if holds_nul(value):
            raise PydanticCustomError(NUL_CODE, NUL_MESSAGE)
        if holds_implausible_date(value):
            raise PydanticCustomError(ANNEE_CODE, ANNEE_HORS_BORNES)
        return value


def _path_parameters(router: Router | None, scope: Scope) -> list[str]:
    """Names of the path parameters holding a NUL, when one of `router`'s routes matches."""
    if router is None:
        return []
    for route in router.routes:
        match, child = route.matches(scope)
        if match is not Match.NONE:
            params: dict[str, Any] = child.get("path_params", {})
            return [name for name, value in params.items() if holds_nul(value)]
    return []


def nul_errors(scope: Scope, router: Router | None = None) -> list[dict[str, Any]]:
    """One error entry per URL part holding a NUL character: path, then query parameters."""
    errors: list[dict[str, Any]] = []
    if "\x00" in scope["path"]:
        names: list[str | None] = [*_path_parameters(router, scope)] or [None]
        errors += [
            {"location": "path", "field": name, "message": NUL_MESSAGE, "code": NUL_CODE}
            for name in names
        ]
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "") or None
                errors.append(
                    {"location": "query", "field": field, "message": NUL_MESSAGE, "code": NUL_CODE}
                )
    return errors


class NulCharacterMiddleware:
    """422 for a NUL character in the path or the query string, before any other work.

    `router` (the app's) names the path parameter when one of its routes matches; a
    proxied path (the gateway's lane) is refused all the same, its parameter unnamed."""

    def __init__(self, app: ASGIApp, router: Router | None = None) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            # The common case costs two substring scans.
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                errors = nul_errors(scope, self.router)
                if errors:
                    refusal = InvalidPayload(
                        "L'adresse contient un caractère NUL (U+0000), qui n'est pas accepté.",
                        errors=errors,
                    )
                    await domain_error_response(refusal, scope["path"])(scope, receive, send)
                    return
        await self.app(scope, receive, send)
