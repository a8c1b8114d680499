"""Routes of the bilans (point d'étape annuel, intermédiaire, final)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from pydantic import Field

from kernel.convention_ref import ConventionRef
from kernel.database import DbSession
from kernel.etag import IfMatch, etag_for
from kernel.idempotency import IdempotentRoute
from kernel.input import Input
from kernel.internal_token import CurrentPrincipal
from kernel.pagination import Pagination
from services.actions import repository_suivis as srepo
from services.actions import repository_sync as sync_repo
from services.actions import service_bilans, service_cdsf
from services.actions.dependencies import ActionsContext, Created, Ctx, respond
from services.actions.endpoints import (
    UpdatedSince,
    created,
    in_convention,
    sync_page,
    with_etag,
)
from services.actions.models import Bilan
from services.actions.rights import (
    BilanAdopt,
    BilanAgree,
    BilanDelete,
    BilanRead,
    BilanTransmit,
    BilanWrite,
    ConventionRead,
    EvaluationWrite,
)
from services.actions.schemas import (
    Adoption,
    BilanDetail,
    BilanIn,
    BilanPatch,
    BilansAttendus,
    BilanSummary,
    SyncPage,
)

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)


class AccordIn(Input):
    collectivite_id: uuid.UUID | None = Field(
        default=None,
        description="La collectivité qui donne son accord ; à préciser si vous êtes habilité "
        "pour plusieurs collectivités concernées.",
    )


@router.get(
    "/conventions/{convention_id}/bilans",
    tags=["bilans"],
    response_model=SyncPage[BilanSummary],
    summary="Lister les bilans d'une convention",
    description=(
        "Les bilans rédigés de la convention (points d'étape, bilan intermédiaire, bilan final)."
    ),
)
async def list_bilans(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    listing = await sync_repo.listing(
        session,
        srepo.BILANS_LIST,
        page=page,
        since=updated_since,
        parent=in_convention(ctx, session, principal, convention_id),
    )
    today = ctx.today()
    return sync_page(listing, lambda r: service_bilans.bilan_summary_item(r, today))


@router.get(
    "/conventions/{convention_id}/bilans/attendus",
    tags=["bilans"],
    response_model=BilansAttendus,
    summary="Bilans attendus d'une convention",
    description=(
        "Les bilans que la convention doit au COPIL (art. 9) : un point d'étape par "
        "année, le bilan intermédiaire à mi-parcours, le bilan final avant la fin ; "
        "pour chacun, sa date attendue, le bilan rédigé s'il existe et s'il est en "
        "retard."
    ),
)
async def bilans_attendus(
    convention_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: ConventionRead
) -> BilansAttendus:
    """Les bilans que la convention doit au COPIL (art. 9) : un point d'étape par année,
    le bilan intermédiaire à mi-parcours, le bilan final avant la fin ; pour chacun, sa
    date attendue, le bilan rédigé s'il existe et s'il est en retard."""
    return await service_bilans.attendus(ctx, session, principal, convention_id)


@router.post(
    "/conventions/{convention_id}/bilans",
    tags=["bilans"],
    status_code=201,
    response_model=BilanDetail,
    summary="Rédiger un bilan",
    description=(
        "Les agents de la Caf et les collectivités signataires (contributeurs, "
        "référents) rédigent les bilans (art. 9), avec les sections de leur type."
    ),
)
async def create_bilan(
    convention_id: uuid.UUID,
    data: BilanIn,
    ctx: Ctx,
    session: DbSession,
    principal: EvaluationWrite,
) -> Response:
    """Les agents de la Caf et les collectivités signataires (contributeurs, référents)
    rédigent les bilans (art. 9), avec les sections de leur type."""

    async def run() -> Created:
        bilan, convention = await service_bilans.create_bilan(
            ctx, session, principal, convention_id, data
        )
        body = await service_bilans.bilan_detail(session, bilan, convention, ctx.today())
        return created(body, bilan.id, bilan.version, f"/api/v1/bilans/{bilan.id}")

    return respond(await run())


async def _detail(
    ctx: ActionsContext,
    session: DbSession,
    response: Response,
    bilan: Bilan,
    convention: ConventionRef,
) -> BilanDetail:
    with_etag(response, bilan.id, bilan.version)
    return await service_bilans.bilan_detail(session, bilan, convention, ctx.today())


@router.get(
    "/bilans/{bilan_id}",
    tags=["bilans"],
    summary="Lire un bilan",
    description="Le bilan, ses sections et son état, avec son ETag.",
)
async def get_bilan(
    bilan_id: uuid.UUID,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: BilanRead,
) -> BilanDetail:
    bilan, convention = await service_bilans.load_bilan(session, principal, bilan_id)
    return await _detail(ctx, session, response, bilan, convention)


@router.patch(
    "/bilans/{bilan_id}",
    tags=["bilans"],
    summary="Modifier un bilan",
    description=(
        "Les agents de la Caf et les collectivités signataires (contributeurs, "
        "référents) modifient un bilan en brouillon : seuls les champs et sections "
        "envoyés changent."
    ),
)
async def update_bilan(
    bilan_id: uuid.UUID,
    data: BilanPatch,
    preconditions: IfMatch,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: BilanWrite,
) -> BilanDetail:
    """Les agents de la Caf et les collectivités signataires (contributeurs, référents)
    modifient un bilan en brouillon : seuls les champs et sections envoyés changent."""
    bilan, convention = await service_bilans.update_bilan(
        session, principal, preconditions, bilan_id, data
    )
    return await _detail(ctx, session, response, bilan, convention)


@router.delete(
    "/bilans/{bilan_id}",
    tags=["bilans"],
    status_code=204,
    summary="Supprimer un bilan",
    description=(
        "Supprime un bilan encore en brouillon (agents de la Caf, `If-Match` "
        "obligatoire) ; un bilan adopté : 409."
    ),
)
async def delete_bilan(
    bilan_id: uuid.UUID, preconditions: IfMatch, session: DbSession, principal: BilanDelete
) -> Response:
    """Delete a bilan still in brouillon (Caf agents, If-Match); an adopted one: 409."""
    await service_bilans.delete_bilan(session, principal, preconditions, bilan_id)
    return Response(status_code=204)


async def _bilan_post(
    ctx: ActionsContext,
    session: DbSession,
    principal: CurrentPrincipal,
    change: Callable[[], Awaitable[tuple[Bilan, ConventionRef]]],
) -> Response:
    """A bilan POST that changes it, honouring Idempotency-Key: a retried adoption,
    agreement or transmission returns its first answer (not a 412, not a new snapshot)."""

    async def run() -> Created:
        bilan, convention = await change()
        body = await service_bilans.bilan_detail(session, bilan, convention, ctx.today())
        return Created(
            body=body, status_code=200, headers={"ETag": etag_for(bilan.id, bilan.version)}
        )

    return respond(await run())


@router.post(
    "/bilans/{bilan_id}/adoption",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Adopter un bilan",
    description=(
        "Adopté par le COPIL à la date donnée : fige l'instantané. Saisi par un agent "
        "de la Caf ou le référent d'une collectivité signataire."
    ),
)
async def adopter(
    bilan_id: uuid.UUID,
    data: Adoption,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: BilanAdopt,
) -> Response:
    """Adopté par le COPIL à la date donnée : fige l'instantané. Saisi par un agent de la
    Caf ou le référent d'une collectivité signataire."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_bilans.adopter(
            session, principal, preconditions, bilan_id, data, ctx.today()
        ),
    )


@router.post(
    "/bilans/{bilan_id}/rapport/archivage",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Relancer l'archivage du rapport du bilan",
    description=(
        "Le service des documents a refusé pour de bon le rapport d'un bilan adopté "
        "(`archivage_rapport.etat` « échec », avec son motif) : une fois la cause levée, "
        "un agent de la Caf ou le référent d'une collectivité signataire relance son "
        "archivage. L'échec est effacé, le rapport repasse « en attente » et sera envoyé "
        "de nouveau ; la relance est inscrite à l'historique du bilan. Réponse : le bilan. "
        "Archivage en attente, déjà conservé, ou bilan non adopté : 409."
    ),
)
async def relancer_archivage(
    bilan_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: BilanAdopt,
) -> Response:
    """Those who adopt the bilan relaunch its report's archiving after a refusal for good."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_bilans.relancer_archivage(session, principal, bilan_id),
    )


@router.post(
    "/bilans/{bilan_id}/accords-cdsf",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Donner l'accord de transmission à la CDSF",
    description=(
        "Une collectivité concernée donne son accord pour transmettre la partie petite "
        "enfance du bilan à la CDSF."
    ),
)
async def accorder(
    bilan_id: uuid.UUID,
    data: AccordIn,
    ctx: Ctx,
    session: DbSession,
    principal: BilanAgree,
) -> Response:
    """A collectivité concerned records its agreement to send the petite-enfance part."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_bilans.accorder(session, principal, bilan_id, data.collectivite_id),
    )


@router.post(
    "/bilans/{bilan_id}/transmission-cdsf",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Rendre transmissible à la CDSF",
    description=(
        "Marque la partie petite enfance transmissible à la CDSF (tous les accords "
        "nécessaires sont requis)."
    ),
)
async def transmettre(
    bilan_id: uuid.UUID,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: BilanTransmit,
) -> Response:
    """Mark the petite-enfance part transmissible to the CDSF (every agreement needed)."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_bilans.transmettre(session, principal, preconditions, bilan_id),
    )


@router.post(
    "/bilans/{bilan_id}/demande-accords-cdsf",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Demander l'accord des collectivités pour la CDSF",
    description=(
        "Un agent de la Caf demande aux collectivités concernées leur accord exprès pour "
        "transmettre la partie petite enfance d'un bilan adopté à la CDSF : les référents "
        "de celles qui ne l'ont pas encore donné en sont avisés, puis chaque semaine tant "
        "qu'elles ne l'ont pas donné ou que la demande n'est pas retirée (`If-Match` "
        "obligatoire). Déjà demandé : rien ne change. Bilan non adopté, ou tous les accords "
        "déjà donnés : 409."
    ),
)
async def demander_accords(
    bilan_id: uuid.UUID,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: BilanTransmit,
) -> Response:
    """A Caf agent asks the collectivités concerned for their agreement (weekly reminders)."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_cdsf.demander(
            session, principal, preconditions, bilan_id, ctx.settings.now()
        ),
    )


@router.delete(
    "/bilans/{bilan_id}/demande-accords-cdsf",
    tags=["bilans"],
    response_model=BilanDetail,
    summary="Retirer la demande d'accord pour la CDSF",
    description=(
        "Un agent de la Caf retire sa demande d'accord : les rappels cessent (`If-Match` "
        "obligatoire). Aucune demande en cours : rien ne change."
    ),
)
async def retirer_demande_accords(
    bilan_id: uuid.UUID,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: BilanTransmit,
) -> Response:
    """A Caf agent withdraws the request: the reminders stop."""
    return await _bilan_post(
        ctx,
        session,
        principal,
        lambda: service_cdsf.retirer(session, principal, preconditions, bilan_id),
    )
