"""Routes of the indicators of a convention as a whole and of its axes (an action's
indicators are in `endpoints`): art. 9 evaluates "les effets de l'ensemble"."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from kernel.database import DbSession
from kernel.etag import CreateOrReplace, IfMatch
from kernel.idempotency import IdempotentRoute
from kernel.pagination import Pagination
from services.actions import repository as repo
from services.actions import repository_sync as sync_repo
from services.actions import service, service_indicateurs
from services.actions.dependencies import Created, Ctx, respond
from services.actions.endpoints import (
    PeriodeValeur,
    UpdatedSince,
    created,
    in_convention,
    indicateur_response,
    sync_page,
    valeur_of_periode,
    valeur_response,
)
from services.actions.rights import ConventionRead, EvaluationWrite
from services.actions.schemas import (
    IndicateurConventionIn,
    IndicateurConventionPatch,
    IndicateurOut,
    SyncPage,
    ValeurIn,
    ValeurOut,
)

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)

BASE = "/conventions/{convention_id}/indicateurs"
ONE = BASE + "/{indicateur_id}"


@router.get(
    BASE,
    tags=["indicateurs"],
    response_model=SyncPage[IndicateurOut],
    summary="Lister les indicateurs d'une convention",
    description=(
        "Les indicateurs de la convention dans son ensemble et ceux de ses axes "
        "(`axe_id` : ceux d'un axe) ; ceux d'une action sont sous l'action."
    ),
)
async def list_indicateurs_convention(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
    axe_id: uuid.UUID | None = None,
) -> dict[str, object]:
    """Les indicateurs de la convention dans son ensemble et ceux de ses axes (``axe_id`` :
    ceux d'un axe) ; ceux d'une action sont sous l'action."""
    listing = await sync_repo.listing(
        session,
        repo.INDICATEURS_CONVENTION_LIST.where(axe_id=axe_id),
        page=page,
        since=updated_since,
        parent=in_convention(ctx, session, principal, convention_id),
    )
    valeurs = await repo.valeurs_of(session, [r.id for r in listing.rows])
    return sync_page(listing, lambda r: service.indicateur_out(r, valeurs[r.id]))


@router.post(
    BASE,
    tags=["indicateurs"],
    status_code=201,
    response_model=IndicateurOut,
    summary="Créer un indicateur de convention",
    description=(
        "Un indicateur de la convention, ou d'un de ses axes (`axe_id`) : agents de la "
        "Caf et collectivités signataires (contributeurs, référents)."
    ),
)
async def create_indicateur_convention(
    convention_id: uuid.UUID,
    data: IndicateurConventionIn,
    ctx: Ctx,
    session: DbSession,
    principal: EvaluationWrite,
) -> Response:
    """Un indicateur de la convention, ou d'un de ses axes (``axe_id``) : agents de la
    Caf et collectivités signataires (contributeurs, référents)."""

    async def run() -> Created:
        ind = await service_indicateurs.create_indicateur_convention(
            ctx, session, principal, convention_id, data
        )
        return created(
            service.indicateur_out(ind, []),
            ind.id,
            ind.version,
            f"/api/v1/conventions/{convention_id}/indicateurs/{ind.id}",
        )

    return respond(await run())


@router.get(
    ONE,
    tags=["indicateurs"],
    summary="Lire un indicateur de convention",
    description="L'indicateur, ses cibles et ses valeurs par période.",
)
async def get_indicateur_convention(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: ConventionRead,
) -> IndicateurOut:
    ind, _ = await service_indicateurs.load_indicateur_convention(
        session, principal, convention_id, indicateur_id
    )
    return await indicateur_response(session, response, ind)


@router.patch(
    ONE,
    tags=["indicateurs"],
    summary="Modifier un indicateur de convention",
    description=(
        "Seuls les champs envoyés changent ; `axe_id` le rattache à un autre axe (null "
        ": à la convention)."
    ),
)
async def update_indicateur_convention(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    data: IndicateurConventionPatch,
    preconditions: IfMatch,
    response: Response,
    session: DbSession,
    principal: EvaluationWrite,
    ctx: Ctx,
) -> IndicateurOut:
    ind = await service_indicateurs.update_indicateur_convention(
        ctx, session, principal, preconditions, convention_id, indicateur_id, data
    )
    return await indicateur_response(session, response, ind)


@router.delete(
    ONE,
    tags=["indicateurs"],
    status_code=204,
    summary="Supprimer un indicateur de convention",
    description="Supprime l'indicateur et ses valeurs.",
)
async def delete_indicateur_convention(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    preconditions: IfMatch,
    session: DbSession,
    principal: EvaluationWrite,
    ctx: Ctx,
) -> Response:
    await service_indicateurs.delete_indicateur_convention(
        ctx, session, principal, preconditions, convention_id, indicateur_id
    )
    return Response(status_code=204)


@router.get(
    ONE + "/valeurs/{periode}",
    tags=["indicateurs"],
    summary="Lire la valeur d'une période",
    description=(
        "La valeur d'un trimestre ou d'une année, avec l'ETag qu'un PUT la remplaçant doit envoyer."
    ),
)
async def get_valeur_convention(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: PeriodeValeur,
    response: Response,
    session: DbSession,
    principal: ConventionRead,
) -> ValeurOut:
    """La valeur d'une période, avec l'ETag qu'un PUT la remplaçant doit envoyer."""
    ind, _ = await service_indicateurs.load_indicateur_convention(
        session, principal, convention_id, indicateur_id
    )
    return await valeur_of_periode(session, response, ind, periode)


@router.put(
    ONE + "/valeurs/{periode}",
    tags=["indicateurs"],
    responses={201: {"description": "Valeur créée", "model": ValeurOut}},
    summary="Enregistrer la valeur d'une période",
    description=(
        "Enregistre la valeur d'un trimestre (`2026-T1`) ou d'une année (`2026`) ; la "
        "remplacer demande `If-Match` (428 sans, 412 périmé), la créer : 201."
    ),
)
async def put_valeur_convention(
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: PeriodeValeur,
    data: ValeurIn,
    request: Request,
    preconditions: CreateOrReplace,
    response: Response,
    session: DbSession,
    principal: EvaluationWrite,
    ctx: Ctx,
) -> ValeurOut:
    """Enregistre la valeur d'un trimestre (``2026-T1``) ou d'une année (``2026``) ;
    la remplacer demande ``If-Match`` (428 sans, 412 périmé)."""
    valeur, created_now = await service_indicateurs.put_valeur_convention(
        ctx, session, principal, preconditions, convention_id, indicateur_id, periode, data
    )
    return valeur_response(request, response, valeur, created_now)
