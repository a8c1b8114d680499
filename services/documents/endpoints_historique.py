"""Routes of the documents' history (issue 24): a document's, read like the document;
this service's part of a convention's feed, which the gateway merges
(`gateway/historique.py`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from kernel.database import DbSession
from kernel.history import EntreeHistorique
from kernel.idempotency import IdempotentRoute
from kernel.internal_token import CurrentPrincipal
from kernel.pagination import Page, Pagination
from services.documents import service_historique
from services.documents.dependencies import Context
from services.documents.rights import DocumentRead

router = APIRouter(prefix="/api/v1", tags=["historique"], route_class=IdempotentRoute)
internal_router = APIRouter(prefix="/internal/v1", tags=["interne"])


@router.get(
    "/documents/{document_id}/historique",
    summary="Historique d'un document et de ses versions",
    description="Du plus récent au plus ancien, par pages (`cursor`) : dépôt, nouvelles "
    "versions, modifications, mise à la corbeille, restauration, purge ; qui (nom à ce "
    "moment-là), quand, par quelle application, quoi (champ par champ). Un document purgé "
    "garde son historique (ses métadonnées, jamais son contenu).",
)
async def document_history(
    document_id: uuid.UUID, session: DbSession, principal: DocumentRead, page: Pagination
) -> Page[EntreeHistorique]:
    return await service_historique.document_history(session, principal, document_id, page)


@internal_router.get("/conventions/{convention_id}/historique")
async def feed(
    convention_id: uuid.UUID,
    ctx: Context,
    session: DbSession,
    principal: CurrentPrincipal,
    page: Pagination,
) -> Page[EntreeHistorique]:
    """This service's part of the convention's feed, for the reader the gateway names
    (404 outside their scope): its documents and their versions."""
    return await service_historique.feed(ctx, session, principal, convention_id, page)
