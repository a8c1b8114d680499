"""Routes of the bilan's report, in ODT and PDF (files, not JSON)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from kernel.database import DbSession
from kernel.etag import IfNoneMatch
from kernel.idempotency import IdempotentRoute
from kernel.sniffing import content_disposition
from services.actions import repository as repo
from services.actions import service_bilans, service_rapports
from services.actions.rights import BilanRead
from services.actions.service_rapports import FormatRapport

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "Fixe pour un bilan adopté ; faible (`W/`) pour un brouillon.",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "`attachment`, nommé d'après le bilan et la convention.",
        "schema": {"type": "string"},
    },
}
_DESCRIPTION = (
    "Le rapport du bilan : titre, convention, signataires, période, sections du bilan, "
    "puis par axe et par action le statut, le dernier suivi validé (réalisations, "
    "difficultés) et les indicateurs face à leurs cibles, avec leurs graphiques, et une "
    "synthèse (nombre d'actions par statut, en retard, achèvement). Un brouillon : "
    "généré à la demande, tel que le bilan et le plan sont à cet instant. Un bilan "
    "adopté : le rapport figé à l'adoption, conservé aussi comme document de la "
    "convention. 304 quand `If-None-Match` nomme son ETag. Réservé aux lecteurs du "
    "bilan (404 sinon)."
)


def _responses(fmt: FormatRapport) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "Le fichier, à enregistrer (`Content-Disposition: attachment`).",
            "content": {fmt.media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": _HEADERS,
        },
        304: {"description": "Inchangé depuis l'ETag envoyé dans If-None-Match"},
    }


async def _rapport(
    bilan_id: uuid.UUID,
    fmt: FormatRapport,
    preconditions: IfNoneMatch,
    session: DbSession,
    principal: BilanRead,
) -> Response:
    bilan, convention = await service_bilans.load_bilan(session, principal, bilan_id)
    rapport = await service_rapports.rapport_of(session, bilan, convention, repo.utcnow())
    tag = service_rapports.etag(bilan, rapport, fmt)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if preconditions.not_modified(tag.removeprefix("W/")):
        return Response(status_code=304, headers=headers)
    name = service_rapports.nom_fichier(rapport, fmt)
    headers |= {
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
    }
    body = await service_rapports.render(rapport, fmt)
    return Response(body, media_type=fmt.media_type, headers=headers)


@router.get(
    "/bilans/{bilan_id}/rapport.odt",
    tags=["bilans"],
    summary="Rapport du bilan (ODT)",
    description=_DESCRIPTION + " OpenDocument texte, modifiable avant le COPIL.",
    response_class=Response,
    responses=_responses(FormatRapport.odt),
)
async def rapport_odt(
    bilan_id: uuid.UUID, preconditions: IfNoneMatch, session: DbSession, principal: BilanRead
) -> Response:
    return await _rapport(bilan_id, FormatRapport.odt, preconditions, session, principal)


@router.get(
    "/bilans/{bilan_id}/rapport.pdf",
    tags=["bilans"],
    summary="Rapport du bilan (PDF)",
    description=_DESCRIPTION + " PDF/UA accessible (texte réel, titre, langue, structure).",
    response_class=Response,
    responses=_responses(FormatRapport.pdf),
)
async def rapport_pdf(
    bilan_id: uuid.UUID, preconditions: IfNoneMatch, session: DbSession, principal: BilanRead
) -> Response:
    return await _rapport(bilan_id, FormatRapport.pdf, preconditions, session, principal)
