"""Routes of the discussions: the threads of a fiche-action and of its suivis, and the
comments themselves (`/commentaires/{id}`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kernel.database import DbSession
from kernel.etag import IfMatch
from kernel.idempotency import IdempotentRoute
from kernel.pagination import Pagination
from services.actions import repository_discussions as drepo
from services.actions import repository_sync as sync_repo
from services.actions import service_discussions
from services.actions.dependencies import Created, Ctx, respond
from services.actions.endpoints import UpdatedSince, created, sync_page, under_action, with_etag
from services.actions.models import Commentaire
from services.actions.rights import (
    ActionRead,
    CommentaireRead,
    CommentaireWrite,
    DiscussionWrite,
)
from services.actions.rules import PeriodeTrimestre
from services.actions.schemas import SyncPage
from services.actions.schemas_discussions import (
    CommentaireIn,
    CommentaireOut,
    CommentairePatch,
    Mentionnables,
    OrdreFil,
)

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)
Periode = Annotated[PeriodeTrimestre, Path(description="Trimestre du suivi, ex. 2026-T1")]
Ordre = Annotated[
    OrdreFil,
    Query(
        description="`chronologique` (par défaut : du plus ancien au plus récent, l'ordre "
        "de lecture d'un fil) ou `antechronologique` (les plus récents d'abord : l'écran "
        "qui s'ouvre sur les derniers messages et remonte page après page). Sans effet "
        "avec `updated_since`, qui suit l'ordre des changements."
    ),
]

_LIST = (
    "Une page du fil, dans l'ordre demandé, et un `sync_token` ; avec `updated_since`, "
    "les commentaires publiés, corrigés ou supprimés depuis (un commentaire supprimé "
    "revient avec `supprime` vrai, sans texte : il reste à sa place dans le fil)."
)
_POST = (
    "Publie un commentaire (agents de la Caf, contributeurs et référents des collectivités "
    "signataires ; 403 pour les autres lecteurs). `mentions` : les personnes à prévenir, "
    "qui doivent lire la convention (422 sinon, rien n'est publié ; 503 si la passerelle "
    "ne répond pas)."
)


def _posted(c: Commentaire) -> Created:
    return created(
        service_discussions.commentaire_out(c), c.id, c.version, f"/api/v1/commentaires/{c.id}"
    )


async def _thread(
    session: DbSession,
    principal: ActionRead,
    action_id: uuid.UUID,
    suivi_id: uuid.UUID | None,
    page: Pagination,
    ordre: OrdreFil,
    since: str | None,
) -> dict[str, object]:
    query = drepo.THREADS[(suivi_id is not None, ordre)]
    if suivi_id is not None:
        query = query.where(suivi_id=suivi_id)
    listing = await sync_repo.listing(
        session, query, page=page, since=since, parent=under_action(principal, action_id)
    )
    return sync_page(listing, service_discussions.commentaire_out)


@router.get(
    "/actions/{action_id}/commentaires",
    tags=["discussions"],
    response_model=SyncPage[CommentaireOut],
    summary="Lire le fil de discussion d'une fiche-action",
    description=_LIST,
)
async def list_action_thread(
    action_id: uuid.UUID,
    session: DbSession,
    principal: ActionRead,
    page: Pagination,
    ordre: Ordre = OrdreFil.chronologique,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    return await _thread(session, principal, action_id, None, page, ordre, updated_since)


@router.post(
    "/actions/{action_id}/commentaires",
    tags=["discussions"],
    status_code=201,
    response_model=CommentaireOut,
    summary="Commenter une fiche-action",
    description=_POST,
)
async def post_action_comment(
    action_id: uuid.UUID,
    data: CommentaireIn,
    ctx: Ctx,
    session: DbSession,
    principal: DiscussionWrite,
) -> Response:
    c = await service_discussions.post(ctx, session, principal, action_id, None, data)
    return respond(_posted(c))


@router.get(
    "/actions/{action_id}/suivis/{periode}/commentaires",
    tags=["discussions"],
    response_model=SyncPage[CommentaireOut],
    summary="Lire le fil de discussion d'un suivi",
    description=_LIST,
)
async def list_suivi_thread(
    action_id: uuid.UUID,
    periode: Periode,
    session: DbSession,
    principal: ActionRead,
    page: Pagination,
    ordre: Ordre = OrdreFil.chronologique,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    suivi = await service_discussions.thread_suivi(session, principal, action_id, periode)
    return await _thread(session, principal, action_id, suivi.id, page, ordre, updated_since)


@router.post(
    "/actions/{action_id}/suivis/{periode}/commentaires",
    tags=["discussions"],
    status_code=201,
    response_model=CommentaireOut,
    summary="Commenter un suivi",
    description=_POST,
)
async def post_suivi_comment(
    action_id: uuid.UUID,
    periode: Periode,
    data: CommentaireIn,
    ctx: Ctx,
    session: DbSession,
    principal: DiscussionWrite,
) -> Response:
    c = await service_discussions.post(ctx, session, principal, action_id, periode, data)
    return respond(_posted(c))


@router.get(
    "/commentaires/{commentaire_id}",
    tags=["discussions"],
    summary="Lire un commentaire",
    description="Un commentaire (ou ce qu'il en reste une fois supprimé), avec son ETag.",
)
async def get_comment(
    commentaire_id: uuid.UUID, response: Response, session: DbSession, principal: CommentaireRead
) -> CommentaireOut:
    c, _ = await service_discussions.load_commentaire(session, principal, commentaire_id)
    with_etag(response, c.id, c.version)
    return service_discussions.commentaire_out(c)


@router.patch(
    "/commentaires/{commentaire_id}",
    tags=["discussions"],
    summary="Corriger un commentaire",
    description=(
        "Son auteur seul corrige un commentaire, dans les 15 minutes qui suivent sa "
        "publication (409 ensuite), avec `If-Match`. L'historique garde la trace de la "
        "correction, sans le texte."
    ),
)
async def edit_comment(
    commentaire_id: uuid.UUID,
    data: CommentairePatch,
    preconditions: IfMatch,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: CommentaireWrite,
) -> CommentaireOut:
    c = await service_discussions.edit(ctx, session, principal, preconditions, commentaire_id, data)
    with_etag(response, c.id, c.version)
    return service_discussions.commentaire_out(c)


@router.delete(
    "/commentaires/{commentaire_id}",
    tags=["discussions"],
    status_code=204,
    summary="Supprimer un commentaire",
    description=(
        "Son auteur, ou un agent de la Caf de la convention (modération), supprime un "
        "commentaire, avec `If-Match` : il reste dans le fil comme « commentaire "
        "supprimé », avec son auteur et ses dates, sans texte ni mentions."
    ),
)
async def delete_comment(
    commentaire_id: uuid.UUID,
    preconditions: IfMatch,
    ctx: Ctx,
    session: DbSession,
    principal: CommentaireWrite,
) -> Response:
    await service_discussions.delete(ctx, session, principal, preconditions, commentaire_id)
    return Response(status_code=204)


@router.get(
    "/actions/{action_id}/mentionnables",
    tags=["discussions"],
    summary="Personnes mentionnables dans les discussions d'une action",
    description=(
        "Les personnes qu'un commentaire de l'action (sur la fiche ou sur un suivi) peut "
        "mentionner : celles qui lisent la convention par une habilitation active, à la "
        "Caf ou dans une collectivité signataire, classées par nom (sans leur adresse). "
        "`q` : une partie du nom. Pour ceux qui publient (403 pour les lecteurs) ; 503 "
        "si la passerelle ne répond pas."
    ),
)
async def mentionables(
    action_id: uuid.UUID,
    ctx: Ctx,
    session: DbSession,
    principal: DiscussionWrite,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Une partie du nom recherché."),
    ] = None,
) -> Mentionnables:
    return await service_discussions.mentionables(ctx, session, principal, action_id, q)
