"""Routes of the exports of the tableau de suivi (files, not JSON)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import StreamingResponse

from kernel.database import DbSession
from kernel.idempotency import IdempotentRoute
from kernel.sniffing import content_disposition, name_from_title
from services.actions import service_exports
from services.actions.dependencies import Ctx
from services.actions.rights import ConventionRead
from services.actions.rules import PeriodeTrimestre
from services.actions.service_exports import FeuilleCsv, FormatExport

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

_FILE: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Le fichier, à enregistrer (`Content-Disposition: attachment`).",
        "content": {f.media_type.split(";")[0]: _FILE for f in FormatExport},
    }
}


# The format of a file the service writes (ODS by default: the RGI's recommendation).
FormatParam = Annotated[
    FormatExport, Query(description="Format du fichier : ods (par défaut), xlsx ou csv.")
]


def file_headers(name: str, fmt: FormatExport) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(f"{name_from_title(name)}.{fmt.value}"),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }


@router.get(
    "/conventions/{convention_id}/tableau-de-suivi",
    tags=["exports"],
    summary="Exporter le tableau de suivi de la convention",
    description=(
        "Une ligne par action et par trimestre écoulé de la convention : axe, action, "
        "porteurs (par leur nom), statut, échéance, retard, état du suivi, avancement, "
        "réalisations, difficultés et valeurs des indicateurs du trimestre face à leur "
        "cible. En ODS et XLSX, une seconde feuille « Indicateurs » donne chaque valeur "
        "d'indicateur (de la convention, de ses axes, de ses actions) face à la cible de "
        "son année et la progression de l'indicateur (dernière valeur, cible, part de la "
        "cible atteinte, tendance). Le CSV (UTF-8 avec BOM, séparateur « ; ») contient une "
        "seule feuille, choisie par `feuille`. Réservé aux lecteurs de la convention (404 "
        "sinon)."
    ),
    response_class=StreamingResponse,
    responses=FILE_RESPONSES,
)
async def tableau_de_suivi(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    format: FormatParam = FormatExport.ods,
    periode: Annotated[
        PeriodeTrimestre | None,
        Query(description="Un seul trimestre (ex. 2026-T1) ; par défaut tous ceux écoulés."),
    ] = None,
    feuille: Annotated[
        FeuilleCsv,
        Query(
            description="En CSV, la feuille à exporter : suivi (par défaut) ou indicateurs ; "
            "l'ODS et le XLSX contiennent les deux."
        ),
    ] = FeuilleCsv.suivi,
) -> StreamingResponse:
    export = await service_exports.tableau_de_suivi(ctx, session, principal, convention_id, periode)
    return StreamingResponse(
        export.chunks(format, feuille),
        media_type=format.media_type,
        headers=file_headers(export.nom_fichier, format),
    )
