"""Routes of the plan d'actions: axes, actions (fiches-action), indicateurs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, NamedTuple, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.database import DbSession
from kernel.errors import NotFound
from kernel.etag import CreateOrReplace, IfMatch, etag_for
from kernel.idempotency import IdempotentRoute
from kernel.json_response import JsonObject, json_response
from kernel.pagination import Pagination
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions import repository_sync as sync_repo
from services.actions import service, service_indicateurs
from services.actions.dependencies import ActionsContext, Created, Ctx, respond
from services.actions.models import Indicateur, ValeurIndicateur
from services.actions.rights import (
    ActionCreate,
    ActionDelete,
    ActionRead,
    ActionWrite,
    ConventionRead,
    PlanWrite,
)
from services.actions.rules import PeriodeValeur as Periode
from services.actions.rules import StatutAction
from services.actions.schemas import (
    ActionDetail,
    ActionIn,
    ActionPatch,
    ActionSummary,
    AxeIn,
    AxeOut,
    AxePatch,
    IndicateurIn,
    IndicateurOut,
    IndicateurPatch,
    Ordre,
    SyncPage,
    ValeurIn,
    ValeurOut,
)

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)
R = TypeVar("R", bound=NamedTuple)

UpdatedSince = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Jeton de synchronisation (sync_token d'une réponse précédente) : "
        "seuls les éléments modifiés depuis, et les suppressions, sont renvoyés.",
    ),
]


def sync_page(listing: sync_repo.Listing[R], item: Callable[[R], object]) -> JsonObject:
    """A SyncPage as a plain dict: the route validates it once, against its
    ``response_model`` (SyncPage[Item], items given as models or dicts alike)."""
    return {
        "items": [item(r) for r in listing.rows],
        "next_cursor": listing.next_cursor,
        "deleted": [d._asdict() for d in listing.deleted],
        "sync_token": listing.sync_token,
    }


def sync_page_json(listing: sync_repo.Listing[R], item: Callable[[R], JsonObject]) -> Response:
    """`sync_page` written straight to JSON (the hottest lists: see kernel.json_response)."""
    return json_response(sync_page(listing, item))


def in_convention(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> sync_repo.Parent:
    """A list under a convention: 404 outside the caller's scope; a convention the
    replica does not hold yet is fetched first (created seconds ago)."""
    return sync_repo.Parent(
        "convention",
        convention_id,
        principal,
        lambda: ctx.replica.readable(session, convention_id, principal),
    )


def under_action(principal: Principal, action_id: uuid.UUID) -> sync_repo.Parent:
    """A list under an action: 404 outside the caller's scope."""

    async def not_found() -> None:
        raise NotFound("Action introuvable.")

    return sync_repo.Parent("action", action_id, principal, not_found)


async def noms(session: AsyncSession, convention_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The names of a convention's organisations, from the replica (a write's answer)."""
    convention = await repo.ref_by_id(session, convention_id)
    return convention.noms if convention is not None else {}


def with_etag(response: Response, resource_id: uuid.UUID, version: int) -> None:
    response.headers["ETag"] = etag_for(resource_id, version)


def created(body: object, resource_id: uuid.UUID, version: int, location: str) -> Created:
    return Created(
        body=body, headers={"ETag": etag_for(resource_id, version), "Location": location}
    )


# --- axes ------------------------------------------------------------------------------


@router.get(
    "/conventions/{convention_id}/axes",
    tags=["axes"],
    response_model=SyncPage[AxeOut],
    summary="Lister les axes d'une convention",
    description=(
        "Les axes du plan d'actions de la convention, dans leur ordre. `updated_since` "
        "ne rend que ceux modifiés depuis (synchronisation par delta)."
    ),
)
async def list_axes(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    """The axes of a convention, in their order."""
    listing = await sync_repo.listing(
        session,
        repo.AXES_LIST,
        page=page,
        since=updated_since,
        parent=in_convention(ctx, session, principal, convention_id),
    )
    return sync_page(listing, service.axe_out)


@router.post(
    "/conventions/{convention_id}/axes",
    tags=["axes"],
    status_code=201,
    response_model=AxeOut,
    responses={
        201: {"description": "Axe créé (avertissement si le titre ne commence pas par un verbe)"}
    },
    summary="Créer un axe",
    description=(
        "Ajoute un axe à la fin du plan d'actions de la convention (agents de la Caf). "
        "Un titre qui ne commence pas par un verbe est accepté, avec un avertissement."
    ),
)
async def create_axe(
    convention_id: uuid.UUID,
    data: AxeIn,
    ctx: Ctx,
    session: DbSession,
    principal: PlanWrite,
) -> Response:
    async def run() -> Created:
        axe = await service.create_axe(ctx, session, principal, convention_id, data)
        return created(
            service.axe_out(axe),
            axe.id,
            axe.version,
            f"/api/v1/conventions/{convention_id}/axes/{axe.id}",
        )

    return respond(await run())


def reordered(body: Sequence[object]) -> Created:
    # A new order is no single resource: no ETag; a replay returns the first answer.
    return Created(body=body, status_code=200)


@router.post(
    "/conventions/{convention_id}/axes/ordre",
    tags=["axes"],
    response_model=list[AxeOut],
    summary="Réordonner les axes",
    description="La liste complète des axes de la convention, dans leur nouvel ordre.",
)
async def reorder_axes(
    convention_id: uuid.UUID,
    data: Ordre,
    ctx: Ctx,
    session: DbSession,
    principal: PlanWrite,
) -> Response:
    """Give the complete list of the convention's axes in their new order."""

    async def run() -> Created:
        axes = await service.reorder_axes(ctx, session, principal, convention_id, data)
        return reordered([service.axe_out(a) for a in axes])

    return respond(await run())


@router.get(
    "/conventions/{convention_id}/axes/{axe_id}",
    tags=["axes"],
    summary="Lire un axe",
    description="Un axe du plan d'actions, avec son ETag.",
)
async def get_axe(
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: ConventionRead,
) -> AxeOut:
    axe, _ = await service.load_axe(session, principal, convention_id, axe_id)
    with_etag(response, axe.id, axe.version)
    return service.axe_out(axe)


@router.patch(
    "/conventions/{convention_id}/axes/{axe_id}",
    tags=["axes"],
    summary="Modifier un axe",
    description=(
        "Seuls les champs envoyés changent ; `If-Match` obligatoire (428 sans, 412 si périmé)."
    ),
)
async def update_axe(
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    data: AxePatch,
    preconditions: IfMatch,
    response: Response,
    session: DbSession,
    principal: PlanWrite,
) -> AxeOut:
    axe = await service.update_axe(session, principal, preconditions, convention_id, axe_id, data)
    with_etag(response, axe.id, axe.version)
    return service.axe_out(axe)


@router.delete(
    "/conventions/{convention_id}/axes/{axe_id}",
    tags=["axes"],
    status_code=204,
    summary="Supprimer un axe",
    description="Supprime un axe vide ; un axe qui contient des actions : 409.",
)
async def delete_axe(
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    preconditions: IfMatch,
    session: DbSession,
    principal: PlanWrite,
) -> Response:
    await service.delete_axe(session, principal, preconditions, convention_id, axe_id)
    return Response(status_code=204)


@router.post(
    "/conventions/{convention_id}/axes/{axe_id}/actions/ordre",
    tags=["actions"],
    response_model=list[ActionSummary],
    summary="Réordonner les actions d'un axe",
    description=(
        "La liste complète des actions de l'axe (sous-actions comprises), dans leur nouvel ordre."
    ),
)
async def reorder_actions(
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    data: Ordre,
    session: DbSession,
    principal: PlanWrite,
    ctx: Ctx,
) -> Response:
    """Give the complete list of the axe's actions (sous-actions included) in their new order."""

    async def run() -> Created:
        actions = await service.reorder_actions(session, principal, convention_id, axe_id, data)
        today, names = ctx.today(), await noms(session, convention_id)
        return reordered([service.action_summary(a, today, names) for a in actions])

    return respond(await run())


# --- actions ---------------------------------------------------------------------------


@router.get(
    "/conventions/{convention_id}/actions",
    tags=["actions"],
    response_model=SyncPage[ActionSummary],
    summary="Lister les actions d'une convention",
    description="Liste compacte des actions de la convention, par axe puis par position.",
)
async def list_actions(
    convention_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
    axe_id: uuid.UUID | None = None,
    statut: StatutAction | None = None,
    porteur_id: uuid.UUID | None = None,
    en_retard: bool | None = None,
) -> Response:
    """Compact list of the convention's actions, by axe then position."""
    today = ctx.today()
    listing = await sync_repo.listing(
        session,
        repo.actions_list(
            axe_id=axe_id,
            statut=statut.value if statut else None,
            porteur_id=porteur_id,
            en_retard=en_retard,
            today=today,
        ),
        page=page,
        since=updated_since,
        parent=in_convention(ctx, session, principal, convention_id),
    )
    return sync_page_json(listing, lambda r: service.action_summary_item(r, today))


@router.post(
    "/conventions/{convention_id}/actions",
    tags=["actions"],
    status_code=201,
    response_model=ActionDetail,
    summary="Créer une fiche-action",
    description="Ajoute une action (ou une sous-action) à un axe de la convention.",
)
async def create_action(
    convention_id: uuid.UUID,
    data: ActionIn,
    ctx: Ctx,
    session: DbSession,
    principal: ActionCreate,
) -> Response:
    async def run() -> Created:
        action = await service.create_action(ctx, session, principal, convention_id, data)
        names = await noms(session, convention_id)
        body = service.action_detail(action, [], ctx.today(), names)
        return created(body, action.id, action.version, f"/api/v1/actions/{action.id}")

    return respond(await run())


@router.get(
    "/actions/{action_id}",
    tags=["actions"],
    summary="Lire une fiche-action",
    description="La fiche-action complète, avec ses sous-actions et son ETag.",
)
async def get_action(
    action_id: uuid.UUID,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: ActionRead,
) -> ActionDetail:
    """The complete fiche-action, with its sous-actions."""
    action, convention = await service.load_action(session, principal, action_id)
    children = await repo.sous_actions(session, action.id)
    with_etag(response, action.id, action.version)
    return service.action_detail(action, children, ctx.today(), convention.noms)


@router.patch(
    "/actions/{action_id}",
    tags=["actions"],
    summary="Modifier une fiche-action",
    description=(
        "Seuls les champs envoyés changent ; `axe_id` déplace l'action à la fin d'un autre axe."
    ),
)
async def update_action(
    action_id: uuid.UUID,
    data: ActionPatch,
    preconditions: IfMatch,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: ActionWrite,
) -> ActionDetail:
    action = await service.update_action(ctx, session, principal, preconditions, action_id, data)
    children = await repo.sous_actions(session, action.id)
    with_etag(response, action.id, action.version)
    return service.action_detail(
        action, children, ctx.today(), await noms(session, action.convention_id)
    )


@router.delete(
    "/actions/{action_id}",
    tags=["actions"],
    status_code=204,
    summary="Supprimer une fiche-action",
    description=(
        "Supprime une action sans sous-action ni suivi soumis ou validé ; sinon 409 "
        "(passez-la « abandonnée » plutôt que de la supprimer)."
    ),
)
async def delete_action(
    action_id: uuid.UUID, preconditions: IfMatch, session: DbSession, principal: ActionDelete
) -> Response:
    await service.delete_action(session, principal, preconditions, action_id)
    return Response(status_code=204)


# --- indicateurs -----------------------------------------------------------------------


@router.get(
    "/actions/{action_id}/indicateurs",
    tags=["indicateurs"],
    response_model=SyncPage[IndicateurOut],
    summary="Lister les indicateurs d'une action",
    description="Les indicateurs de l'action, avec leurs cibles.",
)
async def list_indicateurs(
    action_id: uuid.UUID,
    session: DbSession,
    principal: ActionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    listing = await sync_repo.listing(
        session,
        repo.INDICATEURS_LIST,
        page=page,
        since=updated_since,
        parent=under_action(principal, action_id),
    )
    valeurs = await repo.valeurs_of(session, [r.id for r in listing.rows])
    return sync_page(listing, lambda r: service.indicateur_out(r, valeurs[r.id]))


@router.post(
    "/actions/{action_id}/indicateurs",
    tags=["indicateurs"],
    status_code=201,
    response_model=IndicateurOut,
    summary="Créer un indicateur d'action",
    description="Un indicateur de réalisation ou de résultat, avec ses cibles par année.",
)
async def create_indicateur(
    action_id: uuid.UUID,
    data: IndicateurIn,
    session: DbSession,
    principal: ActionWrite,
    ctx: Ctx,
) -> Response:
    async def run() -> Created:
        ind = await service_indicateurs.create_indicateur(ctx, session, principal, action_id, data)
        return created(
            service.indicateur_out(ind, []),
            ind.id,
            ind.version,
            f"/api/v1/actions/{action_id}/indicateurs/{ind.id}",
        )

    return respond(await run())


async def indicateur_response(
    session: AsyncSession, response: Response, ind: Indicateur
) -> IndicateurOut:
    valeurs = await repo.valeurs_of(session, [ind.id])
    with_etag(response, ind.id, ind.version)
    return service.indicateur_out(ind, valeurs[ind.id])


@router.get(
    "/actions/{action_id}/indicateurs/{indicateur_id}",
    tags=["indicateurs"],
    summary="Lire un indicateur d'action",
    description="L'indicateur, ses cibles et ses valeurs par période.",
)
async def get_indicateur(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: ActionRead,
) -> IndicateurOut:
    ind, _, _ = await service_indicateurs.load_indicateur(
        session, principal, action_id, indicateur_id
    )
    return await indicateur_response(session, response, ind)


@router.patch(
    "/actions/{action_id}/indicateurs/{indicateur_id}",
    tags=["indicateurs"],
    summary="Modifier un indicateur d'action",
    description="Seuls les champs envoyés changent ;",
)
async def update_indicateur(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    data: IndicateurPatch,
    preconditions: IfMatch,
    response: Response,
    session: DbSession,
    principal: ActionWrite,
    ctx: Ctx,
) -> IndicateurOut:
    ind = await service_indicateurs.update_indicateur(
        ctx, session, principal, preconditions, action_id, indicateur_id, data
    )
    return await indicateur_response(session, response, ind)


PeriodeValeur = Annotated[Periode, Path(description="Trimestre (2026-T1) ou année (2026)")]


@router.get(
    "/actions/{action_id}/indicateurs/{indicateur_id}/valeurs/{periode}",
    tags=["indicateurs"],
    summary="Lire la valeur d'une période",
    description=(
        "La valeur d'un trimestre (`2026-T1`) ou d'une année (`2026`), avec l'ETag "
        "qu'un PUT la remplaçant doit envoyer."
    ),
)
async def get_valeur(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: PeriodeValeur,
    response: Response,
    session: DbSession,
    principal: ActionRead,
) -> ValeurOut:
    """The value of a period, with the ETag a PUT replacing it must send."""
    ind, _, _ = await service_indicateurs.load_indicateur(
        session, principal, action_id, indicateur_id
    )
    return await valeur_of_periode(session, response, ind, periode)


@router.put(
    "/actions/{action_id}/indicateurs/{indicateur_id}/valeurs/{periode}",
    tags=["indicateurs"],
    responses={201: {"description": "Valeur créée", "model": ValeurOut}},
    summary="Enregistrer la valeur d'une période",
    description=(
        "Enregistre la valeur d'un trimestre (`2026-T1`) ou d'une année (`2026`). La "
        "remplacer demande `If-Match` avec son ETag (428 sans, 412 périmé) ; la créer "
        "ne demande rien, ou `If-None-Match: *` (412 si elle existe) : 201."
    ),
)
async def put_valeur(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: PeriodeValeur,
    data: ValeurIn,
    request: Request,
    preconditions: CreateOrReplace,
    response: Response,
    session: DbSession,
    principal: ActionWrite,
    ctx: Ctx,
) -> ValeurOut:
    """Record the value of a quarter (``2026-T1``) or a year (``2026``).

    Replacing a value needs ``If-Match`` with its ETag (428 without, 412 stale);
    creating one needs nothing, or ``If-None-Match: *`` (412 if it exists): 201.
    """
    valeur, created_now = await service_indicateurs.put_valeur(
        ctx, session, principal, preconditions, action_id, indicateur_id, periode, data
    )
    return valeur_response(request, response, valeur, created_now)


def valeur_response(
    request: Request, response: Response, valeur: ValeurIndicateur, created_now: bool
) -> ValeurOut:
    """A PUT value's answer: 201 with its Location when it was created, its ETag."""
    with_etag(response, valeur.id, valeur.version)
    if created_now:
        response.status_code = 201
        response.headers["Location"] = request.url.path
    return ValeurOut.model_validate(valeur)


async def valeur_of_periode(
    session: AsyncSession, response: Response, ind: Indicateur, periode: str
) -> ValeurOut:
    """The value of a period (404 when none), with the ETag a PUT replacing it must send."""
    valeur = await repo.valeur_of(session, ind.id, periode)
    if valeur is None:
        raise NotFound(f"Pas de valeur {periode} pour cet indicateur.")
    with_etag(response, valeur.id, valeur.version)
    return ValeurOut.model_validate(valeur)


@router.delete(
    "/actions/{action_id}/indicateurs/{indicateur_id}",
    tags=["indicateurs"],
    status_code=204,
    summary="Supprimer un indicateur d'action",
    description="Supprime l'indicateur et ses valeurs.",
)
async def delete_indicateur(
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    preconditions: IfMatch,
    session: DbSession,
    principal: ActionWrite,
    ctx: Ctx,
) -> Response:
    await service_indicateurs.delete_indicateur(
        ctx, session, principal, preconditions, action_id, indicateur_id
    )
    return Response(status_code=204)
