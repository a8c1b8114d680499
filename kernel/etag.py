"""Optimistic concurrency: ``ETag`` on responses, ``If-Match`` required on updates."""

from __future__ import annotations

from fastapi import Request

from kernel.errors import PreconditionFailed, PreconditionRequired


def etag_for(resource_id: object, version: int) -> str:
    return f'"{resource_id}.{version}"'


def require_if_match(request: Request, current_etag: str) -> None:
    """412 when the client's version is stale, 428 when it sent none."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            "Cette modification exige l'en-tête If-Match avec l'ETag de la ressource."
        )
    candidates = [part.strip() for part in header.split(",")]
    weak_stripped = [c[2:] if c.startswith("W/") else c for c in candidates]
    if "*" in candidates or current_etag in weak_stripped:
        return
    raise PreconditionFailed(
        "La ressource a été modifiée depuis votre lecture ; rechargez-la puis recommencez.",
        headers={"ETag": current_etag},
    )
