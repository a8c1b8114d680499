"""Routes of the documents service (under /api/v1)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from kernel.database import DbSession
from kernel.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from kernel.etag import IfMatch, IfNoneMatch, Preconditions
from kernel.idempotency import IdempotentRoute
from kernel.input import Numero
from kernel.internal_token import CurrentPrincipal
from kernel.json_response import json_response
from kernel.pagination import Pagination, make_page
from kernel.rights import Everyone
from kernel.sniffing import content_disposition
from services.documents import repository as repo
from services.documents import service
from services.documents.dependencies import Context
from services.documents.download import ContentResponse, parse_range
from services.documents.models import StatutAnalyse, TypeDocument
from services.documents.repository import DocumentFilters
from services.documents.rights import ConventionRead, DocumentRead, DocumentUpload, DocumentWrite
from services.documents.schemas import (
    DocumentOut,
    DocumentPage,
    DocumentPatch,
    VersionOut,
    VersionPage,
)
from services.documents.service_upload import UploadRequest, upload

router = APIRouter(prefix="/api/v1", tags=["documents"], route_class=IdempotentRoute)
_log = logging.getLogger("coop.documents")

_MULTIPART_DOC: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["convention_id", "type", "titre", "fichier"],
                    "properties": {
                        "convention_id": {"type": "string", "format": "uuid"},
                        "type": {"type": "string", "enum": [t.value for t in TypeDocument]},
                        "titre": {"type": "string", "maxLength": 300},
                        "description": {"type": "string", "maxLength": 4000},
                        "action_id": {"type": "string", "format": "uuid"},
                        "bilan_id": {"type": "string", "format": "uuid"},
                        "libelle": {"type": "string", "maxLength": 200},
                        "fichier": {
                            "type": "string",
                            "format": "binary",
                            "description": "En dernière partie du formulaire.",
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}
_VERSION_DOC: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fichier"],
                    "properties": {
                        "libelle": {"type": "string", "maxLength": 200},
                        "fichier": {"type": "string", "format": "binary"},
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


async def request_body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        # Nobody is left to answer; the upload's cleanup runs on the way out.
        raise BadRequest("Transfert interrompu par le client.") from exc


def _upload_request(request: Request) -> UploadRequest:
    return UploadRequest(
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
        body=request_body(request),
    )


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentOut,
    openapi_extra=_MULTIPART_DOC,
    summary="Déposer un document",
    description="Formulaire multipart : les métadonnées d'abord, le fichier en dernière partie.",
)
async def create_document(
    request: Request,
    response: Response,
    session: DbSession,
    principal: DocumentUpload,
    ctx: Context,
) -> DocumentOut:
    document, version = await upload(ctx, session, principal, _upload_request(request))
    response.headers["Location"] = f"/api/v1/documents/{document.id}"
    response.headers["ETag"] = service.document_etag(document)
    ref = await ctx.replica.get(session, document.convention_id)
    return service.document_out(document, version, ctx, ref.noms)


@router.get(
    "/documents",
    response_model=DocumentPage,
    summary="Lister et filtrer les documents",
    description=(
        "Les documents du périmètre de l'appelant, filtrés (convention, type, texte), par pages."
    ),
)
async def list_documents(
    session: DbSession,
    principal: Everyone,
    ctx: Context,
    page: Pagination,
    convention_id: uuid.UUID | None = None,
    action_id: uuid.UUID | None = None,
    bilan_id: uuid.UUID | None = None,
    type: TypeDocument | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Texte dans le titre")] = None,
    corbeille: Annotated[bool, Query(description="Documents dans la corbeille")] = False,
) -> Response:
    filters = DocumentFilters(
        convention_id=convention_id,
        action_id=action_id,
        bilan_id=bilan_id,
        type=type,
        texte=q,
        corbeille=corbeille,
    )
    return await _page(session, principal, ctx, filters, page.limit, page.cursor)


async def _page(
    session: DbSession,
    principal: CurrentPrincipal,
    ctx: Context,
    filters: DocumentFilters,
    limit: int,
    cursor: str | None,
) -> Response:
    """A DocumentPage written straight to JSON (plain rows: see kernel.json_response)."""
    found = await repo.list_documents(session, principal, filters, limit, cursor)
    return json_response(
        {
            "items": [
                service.document_json(r.document, r.derniere_version, ctx) for r in found.rows
            ],
            "next_cursor": found.next_cursor,
            "antivirus": ctx.antivirus,
        }
    )


@router.get(
    "/conventions/{convention_id}/documents",
    response_model=DocumentPage,
    summary="Documents d'une convention",
    description="Les documents rattachés à la convention, par pages.",
)
async def convention_documents(
    convention_id: uuid.UUID,
    session: DbSession,
    principal: ConventionRead,
    ctx: Context,
    page: Pagination,
    type: TypeDocument | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    await ctx.replica.readable(session, convention_id, principal)  # 404 outside the scope
    filters = DocumentFilters(convention_id=convention_id, type=type, texte=q)
    return await _page(session, principal, ctx, filters, page.limit, page.cursor)


@router.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    summary="Lire un document",
    description="Les métadonnées du document et de sa dernière version, avec son ETag.",
)
async def get_document(
    document_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: DocumentRead,
    ctx: Context,
) -> DocumentOut:
    document, ref = await service.load_document(session, principal, document_id, deleted=None)
    response.headers["ETag"] = service.document_etag(document)
    return await service.describe(session, ctx, principal, document, ref)


@router.patch(
    "/documents/{document_id}",
    response_model=DocumentOut,
    summary="Modifier un document",
    description=(
        "Modifie les métadonnées (`If-Match` obligatoire) ; les champs absents restent inchangés."
    ),
)
async def patch_document(
    document_id: uuid.UUID,
    patch: DocumentPatch,
    preconditions: IfMatch,
    response: Response,
    session: DbSession,
    principal: DocumentWrite,
    ctx: Context,
) -> DocumentOut:
    document, ref = await service.load_document(session, principal, document_id, for_update=True)
    await service.update_metadata(session, document, ref, principal, patch, preconditions)
    response.headers["ETag"] = service.document_etag(document)
    return await service.describe(session, ctx, principal, document, ref)


@router.delete(
    "/documents/{document_id}",
    status_code=204,
    summary="Mettre un document à la corbeille",
    description=(
        "Le document va à la corbeille ; il peut être restauré tant qu'elle n'est pas vidée."
    ),
)
async def delete_document(
    document_id: uuid.UUID, session: DbSession, principal: DocumentWrite
) -> Response:
    document, ref = await service.load_document(session, principal, document_id, for_update=True)
    await service.move_to_bin(session, document, ref, principal)
    return Response(status_code=204)


@router.post(
    "/documents/{document_id}/restauration",
    response_model=DocumentOut,
    summary="Restaurer un document de la corbeille",
    description="Le document sort de la corbeille, tel qu'il y était entré.",
)
async def restore_document(
    document_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: DocumentWrite,
    ctx: Context,
) -> DocumentOut:
    document, ref = await service.load_document(
        session, principal, document_id, deleted=True, for_update=True
    )
    await service.restore(session, ctx, document, ref, principal)
    response.headers["ETag"] = service.document_etag(document)
    return await service.describe(session, ctx, principal, document, ref)


@router.get(
    "/documents/{document_id}/versions",
    response_model=VersionPage,
    summary="Versions d'un document",
    description="Les versions du document, la plus récente d'abord, par pages.",
)
async def list_versions(
    document_id: uuid.UUID,
    session: DbSession,
    principal: DocumentRead,
    ctx: Context,
    page: Pagination,
) -> VersionPage:
    _, ref = await service.load_document(session, principal, document_id)
    rows = await repo.versions_page(session, principal, document_id, page.limit, page.cursor)
    listed = make_page(
        rows,
        page.limit,
        lambda v: (v.numero,),
        lambda v: service.version_out(v, ctx.antivirus, ref.noms),
    )
    return VersionPage(items=listed.items, next_cursor=listed.next_cursor, antivirus=ctx.antivirus)


@router.post(
    "/documents/{document_id}/versions",
    status_code=201,
    response_model=VersionOut,
    openapi_extra=_VERSION_DOC,
    summary="Déposer une nouvelle version",
    description=(
        "Formulaire multipart, le fichier en dernière partie ; la version précédente "
        "reste consultable."
    ),
)
async def create_version(
    document_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DbSession,
    principal: DocumentWrite,
    ctx: Context,
) -> VersionOut:
    document, version = await upload(
        ctx, session, principal, _upload_request(request), document_id=document_id
    )
    response.headers["Location"] = f"/api/v1/documents/{document.id}/versions/{version.numero}"
    ref = await ctx.replica.get(session, document.convention_id)
    return service.version_out(version, ctx.antivirus, ref.noms)


@router.get(
    "/documents/{document_id}/versions/{numero}",
    response_model=VersionOut,
    summary="Lire une version d'un document",
    description=(
        "Les métadonnées d'une version : fichier, taille, empreinte, résultat de l'antivirus."
    ),
)
async def get_version(
    document_id: uuid.UUID,
    numero: Numero,
    session: DbSession,
    principal: DocumentRead,
    ctx: Context,
) -> VersionOut:
    _, ref = await service.load_document(session, principal, document_id)
    found = await repo.version_with_key(session, principal, document_id, numero)
    if found is None:
        raise NotFound("Version introuvable.")
    return service.version_out(found[0], ctx.antivirus, ref.noms)


# The content as stored (its type is the file's), whole or the range asked for.
_CONTENT = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
_DOWNLOAD_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Le contenu du fichier", "content": _CONTENT},
    206: {
        "description": "La plage d'octets demandée (Range)",
        "content": _CONTENT,
        "headers": {
            "Content-Range": {"description": "bytes début-fin/taille", "schema": {"type": "string"}}
        },
    },
}
RangeHeader = Annotated[
    str | None,
    Header(
        alias="Range",
        description="Une plage d'octets (bytes=début-fin) : 206 avec cette partie, 416 hors "
        "du contenu.",
    ),
]
IfRangeHeader = Annotated[
    str | None,
    Header(
        alias="If-Range",
        description="L'ETag du contenu : la plage n'est servie que s'il "
        "n'a pas changé (sinon tout le contenu).",
    ),
]


@router.get(
    "/documents/{document_id}/contenu",
    summary="Télécharger la dernière version",
    response_class=Response,
    responses=_DOWNLOAD_ANSWERS,
    description="Le contenu du fichier de la dernière version (requêtes `Range` acceptées).",
)
async def download_latest(
    document_id: uuid.UUID,
    request: Request,
    preconditions: IfNoneMatch,
    session: DbSession,
    principal: DocumentRead,
    ctx: Context,
    byte_range: RangeHeader = None,
    if_range: IfRangeHeader = None,
) -> Response:
    asked = _Asked(byte_range, if_range, request.method == "HEAD")
    return await _download(asked, preconditions, session, principal, ctx, document_id, None)


@router.get(
    "/documents/{document_id}/versions/{numero}/contenu",
    summary="Télécharger une version",
    response_class=Response,
    responses=_DOWNLOAD_ANSWERS,
    description="Le contenu du fichier de cette version (requêtes `Range` acceptées).",
)
async def download_version(
    document_id: uuid.UUID,
    numero: Numero,
    request: Request,
    preconditions: IfNoneMatch,
    session: DbSession,
    principal: DocumentRead,
    ctx: Context,
    byte_range: RangeHeader = None,
    if_range: IfRangeHeader = None,
) -> Response:
    asked = _Asked(byte_range, if_range, request.method == "HEAD")
    return await _download(asked, preconditions, session, principal, ctx, document_id, numero)


@dataclass(frozen=True)
class _Asked:
    """What a download asks for beyond the content: a range, on a condition; no body."""

    byte_range: str | None
    if_range: str | None
    head: bool


async def _download(
    asked: _Asked,
    preconditions: Preconditions,
    session: DbSession,
    principal: CurrentPrincipal,
    ctx: Context,
    document_id: uuid.UUID,
    numero: int | None,
) -> Response:
    await service.load_document(session, principal, document_id)
    found = await repo.version_with_key(session, principal, document_id, numero)
    if found is None:
        if numero is None:
            raise Conflict("Aucune version de ce document n'est encore disponible.")
        raise NotFound("Version introuvable.")
    version, key = found
    if version.statut != StatutAnalyse.disponible.value or key is None:
        detail = (
            f"Version rejetée. {version.motif or ''}".strip()
            if version.statut == StatutAnalyse.rejete.value
            else "Version en cours d'analyse antivirus."
        )
        raise Conflict(detail, extra={"statut": version.statut, "motif": version.motif})
    if not await ctx.storage.exists(key):
        # A row without its content is a storage fault, not the client's: say so before
        # streaming (a failure mid-stream would look like a truncated file).
        _log.error("content missing", extra={"fields": {"key": key, "version": str(version.id)}})
        raise ServiceUnavailable("Le contenu de ce document est momentanément indisponible.")
    etag = f'"{version.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(version.nom_fichier),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if preconditions.not_modified(etag):
        return Response(status_code=304, headers=headers)
    byte_range = parse_range(asked.byte_range, version.taille)
    if_range = asked.if_range
    if byte_range is not None and if_range is not None and if_range.strip() != etag:
        byte_range = None  # the client's copy is stale: send the whole new content
    if byte_range is None:
        headers["Content-Length"] = str(version.taille)
        return ContentResponse(
            ctx.storage.read(key),
            None if asked.head else ctx.storage.local_path(key),
            media_type=version.type_contenu,
            headers=headers,
        )
    start, end = byte_range
    headers["Content-Range"] = f"bytes {start}-{end}/{version.taille}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        ctx.storage.read(key, start, end),
        status_code=206,
        media_type=version.type_contenu,
        headers=headers,
    )
