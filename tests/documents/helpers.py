"""Requests the documents tests make again and again."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from kernel.principal import Principal
from tests.documents.samples import multipart
from tests.support.personas import auth_headers


def h(principal: Principal, **extra: str) -> dict[str, str]:
    return {**auth_headers(principal, "documents"), **extra}


async def upload(
    client: httpx.AsyncClient,
    principal: Principal,
    convention_id: uuid.UUID,
    filename: str,
    data: bytes,
    *,
    type: str = "Compte rendu de COPIL",
    titre: str = "Compte rendu du COPIL de juin",
    **fields: str,
) -> httpx.Response:
    form = [
        ("convention_id", str(convention_id)),
        ("type", type),
        ("titre", titre),
        *fields.items(),
    ]
    body, content_type = multipart(form, (filename, data))
    return await client.post(
        "/api/v1/documents", content=body, headers=h(principal, **{"content-type": content_type})
    )


async def new_version(
    client: httpx.AsyncClient,
    principal: Principal,
    document_id: str,
    filename: str,
    data: bytes,
    **fields: str,
) -> httpx.Response:
    body, content_type = multipart(list(fields.items()), (filename, data))
    return await client.post(
        f"/api/v1/documents/{document_id}/versions",
        content=body,
        headers=h(principal, **{"content-type": content_type}),
    )


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def files_under(root: Path) -> list[Path]:
    """Every file left in a storage directory (blobs, temporaries)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
