"""Optimistic concurrency: ``ETag`` on responses, conditional headers on requests.

One mechanism in every app. A route declares which conditional headers it honours by
its parameter's type (`IfMatch`, `IfMatchWhenSent`, `CreateOrReplace`,
`IfNoneMatch`): the dependency reads them into a `Preconditions` value, and the service
that holds the resource (locked, for a write) compares it with the current ETag
through `Preconditions.check`, at the point its rules say: the one place a 428 or a
412 is raised. No service sees the request itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from kernel.errors import PreconditionFailed, PreconditionRequired

STALE = "La ressource a été modifiée depuis votre lecture ; rechargez-la puis recommencez."


def etag_for(resource_id: object, version: int) -> str:
    return f'"{resource_id}.{version}"'


def header_matches(header: str | None, current_etag: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` list designates ``current_etag``:
    ``*``, or the tag itself with the weak comparison (a ``W/`` prefix is ignored)."""
    if header is None:
        return False
    for part in header.split(","):
        tag = part.strip()
        if tag == "*" or tag.removeprefix("W/") == current_etag:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Preconditions:
    """The conditional headers of a request, as far as its route honours them."""

    if_match: str | None = None
    if_none_match: str | None = None
    # A write to an existing resource without If-Match is refused (428).
    if_match_required: bool = False

    def check(self, current_etag: str | None) -> None:
        """The one comparison with the resource's current ETag (None: it does not
        exist, yet or any more). 428 when If-Match is required and absent; 412 when
        If-Match names another version or a resource that does not exist, or when
        If-None-Match names the existing one (a create-only write)."""
        if current_etag is None:
            if self.if_match is not None:
                raise PreconditionFailed(
                    "La ressource n'existe pas (ou plus) : rechargez-la puis recommencez."
                )
            return
        if header_matches(self.if_none_match, current_etag):
            raise PreconditionFailed(
                "La ressource existe déjà : relisez-la, puis remplacez-la avec l'en-tête If-Match.",
                headers={"ETag": current_etag},
            )
        if self.if_match is None:
            if self.if_match_required:
                raise PreconditionRequired(
                    "Cette modification exige l'en-tête If-Match avec l'ETag de la ressource."
                )
            return
        if not header_matches(self.if_match, current_etag):
            raise PreconditionFailed(STALE, headers={"ETag": current_etag})

    def not_modified(self, current_etag: str) -> bool:
        """A conditional read: the client holds this version already (a 304)."""
        return header_matches(self.if_none_match, current_etag)


_IF_MATCH = (
    "L'ETag de la version lue (réponse d'une lecture) : la modification n'a lieu que si "
    "la ressource n'a pas changé depuis (412 sinon)."
)
_IF_NONE_MATCH_READ = "L'ETag déjà connu : 304 sans corps si la ressource n'a pas changé."
_IF_NONE_MATCH_CREATE = "`*` pour créer seulement (412 si la ressource existe déjà)."


def _header(name: str, description: str, *, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


class ConditionalHeaders:
    """The dependency reading a route's conditional headers. `statuses` are the
    answers it makes possible (a route's documentation may be derived from them)."""

    def __init__(
        self, *, if_match: bool, if_none_match: bool, required: bool, statuses: tuple[int, ...]
    ) -> None:
        self.if_match = if_match
        self.if_none_match = if_none_match
        self.required = required
        self.statuses = statuses

    def parameters(self) -> list[dict[str, Any]]:
        """The headers it reads, as OpenAPI header parameters (`kernel.openapi`)."""
        out = []
        if self.if_match:
            out.append(_header("If-Match", _IF_MATCH, required=self.required))
        if self.if_none_match:
            text = _IF_NONE_MATCH_CREATE if self.if_match else _IF_NONE_MATCH_READ
            out.append(_header("If-None-Match", text, required=False))
        return out

    async def __call__(self, request: Request) -> Preconditions:
        headers = request.headers
        return Preconditions(
            if_match=headers.get("if-match") if self.if_match else None,
            if_none_match=headers.get("if-none-match") if self.if_none_match else None,
            if_match_required=self.required,
        )


# A change to an existing resource: If-Match required (428 without, 412 stale).
IfMatch = Annotated[
    Preconditions,
    Depends(
        ConditionalHeaders(if_match=True, if_none_match=False, required=True, statuses=(412, 428))
    ),
]
# A transition that accepts If-Match: when sent, it must be current (412).
IfMatchWhenSent = Annotated[
    Preconditions,
    Depends(
        ConditionalHeaders(if_match=True, if_none_match=False, required=False, statuses=(412,))
    ),
]
# A PUT that creates or replaces: If-Match to replace (428 without, 412 stale);
# If-None-Match: * to create only (412 when it exists).
CreateOrReplace = Annotated[
    Preconditions,
    Depends(
        ConditionalHeaders(if_match=True, if_none_match=True, required=True, statuses=(412, 428))
    ),
]
# A conditional read: If-None-Match naming the current version answers 304.
IfNoneMatch = Annotated[
    Preconditions,
    Depends(
        ConditionalHeaders(if_match=False, if_none_match=True, required=False, statuses=(304,))
    ),
]
