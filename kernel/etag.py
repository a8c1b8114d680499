"""Optimistic concurrency: ``ETag`` on responses, ``If-Match`` required on updates."""

from __future__ import annotations

from fastapi import Request

from kernel.errors import PreconditionFailed, PreconditionRequired


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


def require_if_match(request: Request, current_etag: str) -> None:
    """412 when the client's version is stale, 428 when it sent none."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            "Cette modification exige l'en-tête If-Match avec l'ETag de la ressource."
        )
    if header_matches(header, current_etag):
        return
    raise PreconditionFailed(
        "La ressource a été modifiée depuis votre lecture ; rechargez-la puis recommencez.",
        headers={"ETag": current_etag},
    )
