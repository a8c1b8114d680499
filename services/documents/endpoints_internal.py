"""Internal routes (``/internal/v1``) of the documents service, for the other apps of the
suite (service tokens): the documents the suite produces itself (kernel.documents_systeme)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import StringConstraints

from kernel.database import DbSession
from kernel.internal_token import CallingService
from services.documents import service, service_systeme
from services.documents.dependencies import Context
from services.documents.endpoints import request_body
from services.documents.models import TypeDocument
from services.documents.schemas import DocumentOut

router = APIRouter(prefix="/internal/v1", tags=["interne"])

Cle = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9:._-]{0,119}$")]
Titre = Annotated[str, StringConstraints(min_length=1, max_length=300)]
NomFichier = Annotated[str, StringConstraints(min_length=1, max_length=255)]


@router.put("/conventions/{convention_id}/documents-systeme/{cle}", status_code=201)
async def document_systeme(
    convention_id: uuid.UUID,
    cle: Cle,
    type: Annotated[TypeDocument, Query()],
    titre: Annotated[Titre, Query()],
    nom_fichier: Annotated[NomFichier, Query()],
    request: Request,
    response: Response,
    session: DbSession,
    caller: CallingService,
    ctx: Context,
    bilan_id: Annotated[uuid.UUID | None, Query()] = None,
) -> DocumentOut:
    """Keep a file the suite produced (the body) as a document of the convention, once
    per `cle`: 201 when kept now, 200 with the document already kept under that key."""
    document, version, created = await service_systeme.keep(
        ctx,
        session,
        caller,
        convention_id,
        cle,
        type_document=type,
        titre=titre,
        nom_fichier=nom_fichier,
        bilan_id=bilan_id,
        body=request_body(request),
    )
    if not created:
        response.status_code = 200
    response.headers["ETag"] = service.document_etag(document)
    ref = await ctx.replica.get(session, document.convention_id)
    return service.document_out(document, version, ctx, ref.noms)
