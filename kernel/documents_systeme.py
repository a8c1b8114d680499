"""Documents the suite itself produces and keeps in the documents service.

The actions service keeps an adopted bilan's report (ODT and PDF) as documents of the
convention: it sends each file to the documents service's internal route
``PUT /internal/v1/conventions/{convention_id}/documents-systeme/{cle}`` with a service
token, the file as the body and its description as query parameters. `cle` names the
file in the suite (``bilan-<id>.pdf``): a second PUT of the same key changes nothing and
answers the document already kept, so a sender retrying after a lost answer keeps it
exactly once. The documents service scans it like any upload, and such documents are
read by whoever reads the convention but edited, versioned or deleted by nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import httpx

from kernel.internal_token import InternalTokenSigner

DOCUMENTS_AUDIENCE = "documents"
# What the documents service names as their depositor.
DEPOSANT_SYSTEME = "Coopération"


def document_systeme_path(convention_id: uuid.UUID, cle: str) -> str:
    return f"/internal/v1/conventions/{convention_id}/documents-systeme/{cle}"


async def put_document_systeme(
    http: httpx.AsyncClient,
    base_url: str,
    signer: InternalTokenSigner,
    convention_id: uuid.UUID,
    cle: str,
    params: Mapping[str, str],
    content: bytes,
    media_type: str,
) -> httpx.Response:
    """Send one file; the caller checks the status (200: kept already, 201: kept now)."""
    return await http.put(
        base_url.rstrip("/") + document_systeme_path(convention_id, cle),
        params=dict(params),
        content=content,
        headers={
            "authorization": f"Bearer {signer.mint_service(DOCUMENTS_AUDIENCE)}",
            "content-type": media_type,
        },
    )
