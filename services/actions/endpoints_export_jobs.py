"""Routes of the large exports run as jobs: ask, follow, list, download."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from kernel.database import DbSession
from kernel.errors import Forbidden, InvalidPayload, NotFound
from kernel.idempotency import IdempotentRoute
from kernel.json_response import json_response
from kernel.openapi import raises
from kernel.pagination import Page, Pagination
from kernel.rights import Everyone
from kernel.sniffing import content_disposition
from services.actions import service_export_jobs as jobs
from services.actions.dependencies import Created, Ctx, respond
from services.actions.endpoints_exports import FILE_RESPONSES
from services.actions.models import Export
from services.actions.schemas_exports import ExportOut
from services.actions.service_exports import FormatExport

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

_RETRY_AFTER: dict[str, Any] = {
    "description": "Secondes à attendre avant de redemander l'état de l'export.",
    "schema": {"type": "integer"},
}
_LOCATION: dict[str, Any] = {
    "description": "Le chemin de l'export, dont l'état dit quand son fichier est prêt.",
    "schema": {"type": "string"},
}


def _answer(export: Export, status_code: int = 200, **headers: str) -> Response:
    if jobs.pending(export):
        headers["Retry-After"] = jobs.RETRY_AFTER
    body = jobs.out(export).model_dump(mode="json")
    return json_response(body, status_code=status_code, headers=headers)


@router.post(
    "/exports",
    tags=["exports"],
    status_code=202,
    response_model=ExportOut,
    summary="Demander un export volumineux",
    description=(
        "Les exports d'une Caf entière (`campagne-caf` : chaque action de chaque convention "
        "de la Caf en vigueur au trimestre, avec son suivi du trimestre, dans les colonnes "
        "du tableau de suivi précédées de la convention) se préparent en tâche de fond : "
        "la réponse 202 donne l'export `en attente` et son chemin (`Location`), à relire "
        "jusqu'à l'état `prêt` (ou `échec`, avec son motif). Le fichier se télécharge "
        "ensuite pendant 24 heures, par le seul demandeur. Une campagne : les personnes de "
        "la Caf (la leur par défaut) et les lecteurs nationaux (Caf à préciser) ; 403 pour "
        "une collectivité, 404 pour une autre Caf. L'export `national` (lecteurs "
        "nationaux seuls, 403 sinon) : pour une année (`annee`), la feuille « Suivis » "
        "(chaque action de chaque convention × chaque trimestre commencé, précédée de la "
        "Caf et de la convention) et la feuille « Agrégats » (par Caf puis au total : "
        "conventions, actions, suivis attendus, validés, à compléter, soumis, en "
        "brouillon, non renseignés, taux de suivis validés, actions en retard) ; en CSV, "
        "celle que nomme `feuille`. Trois exports au plus en attente ou en cours par "
        "personne (429 au-delà)."
    ),
    responses={
        202: {"headers": {"Location": _LOCATION, "Retry-After": _RETRY_AFTER}},
        # What each kind's rules refuse (GenreExport.autoriser, called through GENRES).
        **raises(Forbidden, NotFound, InvalidPayload),
    },
)
async def demander(
    demande: jobs.DemandeExportIn, ctx: Ctx, session: DbSession, principal: Everyone
) -> Response:
    async def run() -> Created:
        export = await jobs.demander(ctx, session, principal, demande)
        headers = {"Location": jobs.path_of(export.id), "Retry-After": jobs.RETRY_AFTER}
        return Created(jobs.out(export).model_dump(mode="json"), 202, headers)

    return respond(await run())


@router.get(
    "/exports",
    tags=["exports"],
    response_model=Page[ExportOut],
    summary="Mes exports volumineux",
    description=(
        "Les exports que j'ai demandés et qui n'ont pas expiré, du plus récent au plus "
        "ancien (pagination par curseur)."
    ),
)
async def lister(ctx: Ctx, session: DbSession, principal: Everyone, page: Pagination) -> Response:
    rows, next_cursor = await jobs.lister(ctx, session, principal, page.limit, page.cursor)
    body = {
        "items": [jobs.out(e).model_dump(mode="json") for e in rows],
        "next_cursor": next_cursor,
    }
    return json_response(body)


@router.get(
    "/exports/{export_id}",
    tags=["exports"],
    response_model=ExportOut,
    summary="Lire l'état d'un export volumineux",
    description=(
        "L'état de l'export (`en attente`, `en cours`, `prêt`, `échec` et son motif), ses "
        "dates, la taille et le nom de son fichier. Tant qu'il n'est pas fini, `Retry-After` "
        "dit quand relire. Seul son demandeur le voit (404 pour tout autre, même de sa "
        "Caf), jusqu'à son expiration (404 ensuite)."
    ),
    responses={200: {"headers": {"Retry-After": _RETRY_AFTER}}},
)
async def lire(export_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: Everyone) -> Response:
    return _answer(await jobs.lire(ctx, session, principal, export_id))


@router.get(
    "/exports/{export_id}/fichier",
    tags=["exports"],
    summary="Télécharger le fichier d'un export volumineux",
    description=(
        "Le fichier de l'export prêt (ODS, XLSX ou CSV, `Content-Disposition` avec son nom), "
        "pendant 24 heures après sa fin, pour son seul demandeur et tant qu'il lit encore ce "
        "que l'export contient (une habilitation retirée depuis : 404). 409 tant qu'il "
        "n'est pas prêt (ou s'il a échoué)."
    ),
    response_class=StreamingResponse,
    responses=FILE_RESPONSES,
)
async def fichier(
    export_id: uuid.UUID, request: Request, ctx: Ctx, session: DbSession, principal: Everyone
) -> StreamingResponse:
    export = await jobs.a_telecharger(ctx, session, principal, export_id)
    fmt = FormatExport(export.format)
    return StreamingResponse(
        jobs.file_pieces(request.app.state.sessionmaker, export.id),
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": content_disposition(export.nom_fichier),
            "Content-Length": str(export.taille),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
