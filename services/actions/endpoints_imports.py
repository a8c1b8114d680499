"""Routes of the import of a plan d'actions: template, upload (dry run), report,
mapping, commit."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException
from starlette.responses import StreamingResponse

from kernel.database import DbSession
from kernel.errors import InvalidPayload, PayloadTooLarge, UnsupportedMediaType
from kernel.etag import IfMatch
from kernel.idempotency import IdempotentRoute
from kernel.json_response import json_response
from kernel.openapi import raises
from kernel.sniffing import sanitize_filename
from kernel.tabular import csv_chunks, ods_chunks, xlsx_chunks
from services.actions import service_imports
from services.actions.dependencies import Created, Ctx, respond
from services.actions.endpoints_exports import FILE_RESPONSES, FormatParam, file_headers
from services.actions.rights import ConventionRead, ImportWrite
from services.actions.schemas_imports import CorrespondanceIn, RapportImport
from services.actions.service_exports import FormatExport

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

_IMPORTS = "/conventions/{convention_id}/imports"
_ONE = _IMPORTS + "/{import_id}"


def _location(convention_id: uuid.UUID, import_id: str) -> str:
    return f"/api/v1/conventions/{convention_id}/imports/{import_id}"


def _answer(report: service_imports.Report, status_code: int = 200) -> Response:
    return json_response(report.body, status_code=status_code, headers={"ETag": report.etag})


@router.get(
    "/conventions/{convention_id}/actions/modele-import",
    tags=["imports"],
    summary="Télécharger le modèle d'import du plan d'actions",
    description=(
        "Un classeur dont les colonnes sont celles de la fiche-action de la convention type "
        "(Diagnostic initial, Public cible, Objectifs opérationnels…) précédées de Référence, "
        "Action parente, Axe, Titre, Porteurs, Statut, Thématique, Priorité, dates et "
        "Référent ; une feuille « Aide » dit ce que chaque colonne attend et nomme les "
        "porteurs possibles. Le CSV "
        "(UTF-8 avec BOM, séparateur « ; ») ne contient que la première feuille. Avec "
        "`prerempli=true`, le classeur contient le plan tel qu'il est, une ligne par action "
        "(référence, action parente, axe, titre, porteurs par leur nom, statut, champs de la "
        "fiche) : on le modifie dans un tableur puis on l'importe de nouveau, les lignes "
        "inchangées ne modifient rien ; les actions sans référence, qu'aucune ligne ne peut "
        "désigner, sont listées à part (feuille « Actions sans référence », absente du CSV). "
        "Réservé aux lecteurs de la convention (404 sinon)."
    ),
    response_class=StreamingResponse,
    responses=FILE_RESPONSES,
)
async def modele_import(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    format: FormatParam = FormatExport.ods,
    prerempli: Annotated[
        bool,
        Query(
            description="Prérempli avec le plan d'actions actuel (une ligne par action), pour "
            "le modifier dans un tableur et l'importer de nouveau ; par défaut, le modèle vide."
        ),
    ] = False,
) -> StreamingResponse:
    name, sheets = await service_imports.template(ctx, session, principal, convention_id, prerempli)
    # CSV: the plan's sheet only (a CSV file has one); the others in ODS, XLSX.
    if format is FormatExport.csv:
        chunks = csv_chunks(sheets[0])
    elif format is FormatExport.xlsx:
        chunks = xlsx_chunks(*sheets)
    else:
        chunks = ods_chunks(*sheets, title="Modèle d'import du plan d'actions")
    return StreamingResponse(
        chunks, media_type=format.media_type, headers=file_headers(name, format)
    )


_UPLOAD_DOC: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fichier"],
                    "properties": {
                        "fichier": {
                            "type": "string",
                            "format": "binary",
                            "description": "Le classeur du plan d'actions (.xlsx, .ods ou .csv).",
                        }
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


async def _the_file(request: Request) -> tuple[str, bytes]:
    """The form's one part `fichier` (its name made safe) and its bytes, at most
    10 MiB; anything else in the form is refused."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidPayload(
            "Envoyez le fichier dans un formulaire multipart (champ « fichier »).",
            errors=[{"field": "fichier", "location": "body"}],
        )
    try:
        async with request.form(max_files=1, max_fields=1) as form:
            part = form.get("fichier")
            if not isinstance(part, StarletteUpload) or len(form) != 1:
                raise InvalidPayload(
                    "Le formulaire doit contenir le seul champ « fichier », un fichier.",
                    errors=[{"field": "fichier", "location": "body"}],
                )
            data = await part.read(service_imports.MAX_BYTES + 1)
            name = part.filename or "plan.xlsx"
    except MultiPartException:
        raise InvalidPayload(
            "Formulaire multipart illisible : un seul champ, « fichier ».",
            errors=[{"field": "fichier", "location": "body"}],
        ) from None
    if len(data) > service_imports.MAX_BYTES:
        raise service_imports.too_large()
    return sanitize_filename(name).name, data


@router.post(
    _IMPORTS,
    tags=["imports"],
    status_code=201,
    response_model=RapportImport,
    summary="Déposer un plan d'actions à importer (essai)",
    description=(
        "Dépose un classeur XLSX, ODS ou CSV (10 Mio, 2 000 lignes et 20 feuilles au plus ; "
        "sa première feuille est lue, sa première ligne non vide donne les en-têtes) et "
        "répond le rapport de l'essai : rien n'est encore écrit dans le plan. Les colonnes "
        "sont reconnues par leur en-tête (celles du modèle, ou devinées : à confirmer) ; "
        "chaque ligne dit si elle créerait ou modifierait l'action de sa référence, ou "
        "pourquoi elle est refusée (ligne, colonne, motif). Les porteurs sont reconnus parmi "
        "les collectivités signataires par nom, SIREN ou code INSEE, avec des suggestions "
        "pour un nom proche. Refusés sans rien garder : fichier endommagé ou déguisé (type lu "
        "dans son contenu), classeur à macros, formules sans valeur calculée. L'import n'est "
        "visible que de son auteur et s'efface 24 heures après son dépôt. Réservé aux agents "
        "de la Caf de la convention."
    ),
    # The file is read in a worker thread (`service_imports.read_file`): its refusals.
    responses=raises(PayloadTooLarge, UnsupportedMediaType, InvalidPayload),
    openapi_extra=_UPLOAD_DOC,
)
async def deposer(
    convention_id: uuid.UUID,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    principal: ImportWrite,
) -> Response:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > service_imports.MAX_BYTES + 64 * 1024:
        raise service_imports.too_large()
    filename, data = await _the_file(request)

    async def run() -> Created:
        report = await service_imports.upload(
            ctx, session, principal, convention_id, filename, data
        )
        return Created(
            body=report.body,
            headers={
                "ETag": report.etag,
                "Location": _location(convention_id, str(report.body["id"])),
            },
        )

    return respond(await run())


@router.get(
    _ONE,
    tags=["imports"],
    response_model=RapportImport,
    summary="Lire le rapport d'un import",
    description=(
        "Le rapport de l'essai : ce que la validation ferait de chaque ligne. Si le plan a "
        "changé depuis, l'essai est refait sur le plan actuel (et l'ETag change). Seul "
        "l'auteur de l'import le voit (404 sinon, et après son expiration)."
    ),
)
async def lire(
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ImportWrite,
) -> Response:
    report = await service_imports.read(ctx, session, principal, convention_id, import_id)
    return _answer(report)


@router.put(
    _ONE + "/correspondance",
    tags=["imports"],
    response_model=RapportImport,
    summary="Confirmer la correspondance des colonnes",
    description=(
        "Pour chaque champ, la lettre de la colonne du fichier qui l'alimente (null : "
        "aucune) ; les champs omis gardent la correspondance actuelle. L'essai est refait "
        "et son rapport renvoyé, avec un nouvel ETag."
    ),
)
async def correspondance(
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
    data: CorrespondanceIn,
    ctx: Ctx,
    session: DbSession,
    principal: ImportWrite,
) -> Response:
    report = await service_imports.set_mapping(
        ctx, session, principal, convention_id, import_id, data.colonnes
    )
    return _answer(report)


@router.post(
    _ONE + "/validation",
    tags=["imports"],
    response_model=RapportImport,
    summary="Valider un import : appliquer tout le fichier",
    description=(
        "Applique tout le fichier ou rien, dans une seule transaction, comme les écritures "
        "de l'API (historique de chaque changement) : les axes nouveaux, les actions "
        "créées, celles modifiées. Exige l'en-tête If-Match avec l'ETag du rapport lu : "
        "si le plan ou la correspondance a changé depuis, 412 (relisez le rapport). 409 si "
        "une ligne est refusée ou si l'import est déjà validé. Importer de nouveau le même "
        "fichier ne change rien."
    ),
)
async def valider(
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: ImportWrite,
) -> Response:
    async def run() -> Created:
        report = await service_imports.commit(
            ctx, session, principal, preconditions, convention_id, import_id
        )
        return Created(body=report.body, status_code=200, headers={"ETag": report.etag})

    return respond(await run())
