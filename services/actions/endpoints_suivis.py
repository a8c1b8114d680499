"""Routes of the quarterly follow-up: suivis, campaigns, "my work"."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kernel.database import DbSession
from kernel.etag import CreateOrReplace, IfMatch, etag_for
from kernel.idempotency import IdempotentRoute
from kernel.json_response import json_response
from kernel.pagination import Pagination
from kernel.rights import Everyone
from services.actions import repository_suivis as srepo
from services.actions import repository_sync as sync_repo
from services.actions import service_suivis
from services.actions.dependencies import Created, Ctx, respond
from services.actions.endpoints import (
    UpdatedSince,
    created,
    sync_page,
    under_action,
    with_etag,
)
from services.actions.models import Suivi
from services.actions.rights import (
    ActionRead,
    CampagneWrite,
    ConventionRead,
    SuiviValidate,
    SuiviWrite,
)
from services.actions.rules import PeriodeTrimestre
from services.actions.schemas import (
    ARenseignerPage,
    CampagneConventionOut,
    CampagneIn,
    CampagneResume,
    CampagneVue,
    Commentaire,
    CommentaireOptionnel,
    Correction,
    EvenementOut,
    SuiviDetail,
    SuiviIn,
    SuiviPatch,
    SuiviSummary,
    SyncPage,
)

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)
Periode = Annotated[PeriodeTrimestre, Path(description="Trimestre, ex. 2026-T1")]


def _detail(response: Response, suivi: Suivi) -> SuiviDetail:
    with_etag(response, suivi.id, suivi.version)
    return SuiviDetail.model_validate(suivi, from_attributes=True)


@router.get(
    "/actions/{action_id}/suivis",
    tags=["suivis"],
    response_model=SyncPage[SuiviSummary],
    summary="Lister les suivis d'une action",
    description="Les suivis trimestriels de l'action, du plus récent au plus ancien.",
)
async def list_suivis(
    action_id: uuid.UUID,
    session: DbSession,
    principal: ActionRead,
    page: Pagination,
    updated_since: UpdatedSince = None,
) -> dict[str, object]:
    listing = await sync_repo.listing(
        session,
        srepo.SUIVIS_LIST,
        page=page,
        since=updated_since,
        parent=under_action(principal, action_id),
    )
    return sync_page(listing, service_suivis.SUIVI_SUMMARY)


@router.post(
    "/actions/{action_id}/suivis",
    tags=["suivis"],
    status_code=201,
    response_model=SuiviDetail,
    summary="Ouvrir le suivi d'un trimestre",
    description=(
        "Ouvre le suivi d'un trimestre (`periode`, ex. `2026-T1`) en brouillon ; un "
        "suivi déjà ouvert pour ce trimestre : 409."
    ),
)
async def create_suivi(
    action_id: uuid.UUID,
    data: SuiviIn,
    ctx: Ctx,
    session: DbSession,
    principal: SuiviWrite,
) -> Response:
    """Open the suivi of a quarter (brouillon)."""

    async def run() -> Created:
        suivi = await service_suivis.create_suivi(ctx, session, principal, action_id, data)
        body = SuiviDetail.model_validate(suivi, from_attributes=True)
        return created(
            body, suivi.id, suivi.version, f"/api/v1/actions/{action_id}/suivis/{suivi.periode}"
        )

    return respond(await run())


@router.get(
    "/actions/{action_id}/suivis/{periode}",
    tags=["suivis"],
    summary="Lire un suivi",
    description="Le suivi d'un trimestre, son état et son contenu, avec son ETag.",
)
async def get_suivi(
    action_id: uuid.UUID,
    periode: Periode,
    response: Response,
    session: DbSession,
    principal: ActionRead,
) -> SuiviDetail:
    suivi, _, _ = await service_suivis.load_suivi(session, principal, action_id, periode)
    return _detail(response, suivi)


@router.patch(
    "/actions/{action_id}/suivis/{periode}",
    tags=["suivis"],
    summary="Modifier un suivi",
    description=(
        "Modifie un suivi en brouillon ou à compléter (`If-Match` obligatoire) ; un "
        "suivi soumis ou validé : 409."
    ),
)
async def update_suivi(
    action_id: uuid.UUID,
    periode: Periode,
    data: SuiviPatch,
    preconditions: IfMatch,
    response: Response,
    session: DbSession,
    principal: SuiviWrite,
    ctx: Ctx,
) -> SuiviDetail:
    """Change a brouillon or à compléter suivi (If-Match required)."""
    suivi = await service_suivis.update_suivi(
        ctx, session, principal, preconditions, action_id, periode, data
    )
    return _detail(response, suivi)


async def _transition(change: Callable[[], Awaitable[Suivi]]) -> Response:
    """A workflow POST (If-Match checked by the service; a retried one with the same
    Idempotency-Key gets its first answer, not a 412: the kernel's route class)."""
    suivi = await change()
    body = SuiviDetail.model_validate(suivi, from_attributes=True)
    return respond(
        Created(body=body, status_code=200, headers={"ETag": etag_for(suivi.id, suivi.version)})
    )


@router.post(
    "/actions/{action_id}/suivis/{periode}/soumission",
    tags=["suivis"],
    response_model=SuiviDetail,
    summary="Soumettre un suivi",
    description="Le porteur soumet le suivi à la Caf pour validation.",
)
async def soumettre(
    action_id: uuid.UUID,
    periode: Periode,
    preconditions: IfMatch,
    session: DbSession,
    principal: SuiviWrite,
    ctx: Ctx,
) -> Response:
    return await _transition(
        lambda: service_suivis.transition(
            ctx, session, principal, preconditions, action_id, periode, service_suivis.SOUMISSION
        ),
    )


@router.post(
    "/actions/{action_id}/suivis/{periode}/validation",
    tags=["suivis"],
    response_model=SuiviDetail,
    summary="Valider un suivi",
    description="Un agent de la Caf valide un suivi soumis.",
)
async def valider(
    action_id: uuid.UUID,
    periode: Periode,
    data: CommentaireOptionnel,
    preconditions: IfMatch,
    session: DbSession,
    principal: SuiviValidate,
    ctx: Ctx,
) -> Response:
    """Caf agents only."""
    return await _transition(
        lambda: service_suivis.transition(
            ctx,
            session,
            principal,
            preconditions,
            action_id,
            periode,
            service_suivis.VALIDATION,
            data.commentaire,
        ),
    )


@router.post(
    "/actions/{action_id}/suivis/{periode}/renvoi",
    tags=["suivis"],
    response_model=SuiviDetail,
    summary="Renvoyer un suivi à compléter",
    description=(
        "Un agent de la Caf renvoie un suivi soumis « à compléter », avec un commentaire."
    ),
)
async def renvoyer(
    action_id: uuid.UUID,
    periode: Periode,
    data: Commentaire,
    preconditions: IfMatch,
    session: DbSession,
    principal: SuiviValidate,
    ctx: Ctx,
) -> Response:
    """Send back « à compléter » with a comment (Caf agents only)."""
    return await _transition(
        lambda: service_suivis.transition(
            ctx,
            session,
            principal,
            preconditions,
            action_id,
            periode,
            service_suivis.RENVOI,
            data.commentaire,
        ),
    )


@router.post(
    "/actions/{action_id}/suivis/{periode}/correction",
    tags=["suivis"],
    response_model=SuiviDetail,
    summary="Corriger un suivi validé",
    description=(
        "Une nouvelle révision d'un suivi validé, avec son motif ; elle est validée à nouveau."
    ),
)
async def corriger(
    action_id: uuid.UUID,
    periode: Periode,
    data: Correction,
    preconditions: IfMatch,
    session: DbSession,
    principal: SuiviWrite,
    ctx: Ctx,
) -> Response:
    """A new revision of a validated suivi, with its reason; it is validated again."""
    return await _transition(
        lambda: service_suivis.corriger(
            ctx, session, principal, preconditions, action_id, periode, data
        ),
    )


@router.get(
    "/actions/{action_id}/suivis/{periode}/historique",
    tags=["suivis"],
    summary="Historique d'un suivi",
    description=(
        "Chaque révision et chaque transition du suivi, de la plus ancienne à la plus "
        "récente, avec le contenu produit."
    ),
)
async def historique(
    action_id: uuid.UUID, periode: Periode, session: DbSession, principal: ActionRead
) -> list[EvenementOut]:
    """Every revision and transition, oldest first, with the content it produced."""
    events = await service_suivis.historique(session, principal, action_id, periode)
    return [EvenementOut.model_validate(e) for e in events]


# --- campaigns -------------------------------------------------------------------------


@router.get(
    "/conventions/{convention_id}/campagnes",
    tags=["campagnes"],
    summary="Lister les campagnes d'une convention",
    description=(
        "Chaque trimestre où la convention est en vigueur, avec sa date limite de saisie."
    ),
)
async def list_campagnes(
    convention_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: ConventionRead
) -> list[CampagneResume]:
    """Every quarter the convention is in force, with its due date."""
    rows = await service_suivis.list_campagnes(ctx, session, principal, convention_id)
    return [CampagneResume.model_validate(r) for r in rows]


@router.get(
    "/conventions/{convention_id}/campagnes/{periode}",
    tags=["campagnes"],
    summary="Tableau de bord d'une campagne",
    description=(
        "Le nombre de suivis par état, les suivis manquants, ceux en retard et les "
        "alertes au COPIL. `ETag` : les réglages de la campagne (sa date limite) une "
        "fois fixés, pour le PUT qui les change ; aucun tant que la date par défaut "
        "s'applique."
    ),
)
async def campagne_convention(
    convention_id: uuid.UUID,
    periode: Periode,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: ConventionRead,
) -> CampagneConventionOut:
    """Counts per state, missing suivis, late ones and alerts to the COPIL.

    ``ETag``: the campaign's settings (its due date) once set, for the PUT that changes
    them; none while the default due date applies."""
    out, stored = await service_suivis.campagne_convention(
        ctx, session, principal, convention_id, periode
    )
    if stored is not None:
        with_etag(response, stored.id, stored.version)
    return out


@router.put(
    "/conventions/{convention_id}/campagnes/{periode}",
    tags=["campagnes"],
    responses={201: {"description": "Échéance fixée", "model": CampagneResume}},
    summary="Fixer la date limite d'une campagne",
    description=(
        "Fixe la date limite de saisie d'une campagne (par défaut : 15 jours après la "
        "fin du trimestre). La changer demande `If-Match` avec l'ETag de la campagne "
        "(428 sans, 412 périmé) ; fixer la première ne demande rien, ou `If-None-Match:"
        " *` (412 si déjà fixée) : 201."
    ),
)
async def set_campagne(
    convention_id: uuid.UUID,
    periode: Periode,
    data: CampagneIn,
    preconditions: CreateOrReplace,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    principal: CampagneWrite,
) -> CampagneResume:
    """Set the due date of a campaign (default: 15 days after the quarter ends).

    Changing a due date already set needs ``If-Match`` with the ETag of the campaign
    (428 without, 412 stale); setting the first one needs nothing, or
    ``If-None-Match: *`` (412 if one is set): 201."""
    campagne, created_now = await service_suivis.set_campagne(
        ctx, session, principal, preconditions, convention_id, periode, data.date_limite
    )
    with_etag(response, campagne.id, campagne.version)
    if created_now:
        response.status_code = 201
    due = campagne.date_limite
    return CampagneResume(periode=campagne.periode, date_limite=due, echue=due < ctx.today())


@router.get(
    "/campagnes/{periode}",
    tags=["campagnes"],
    response_model=CampagneVue,
    summary="Campagne d'un trimestre, toutes conventions",
    description=(
        "Par convention du périmètre de l'appelant ; les lecteurs nationaux reçoivent "
        "des agrégats par Caf."
    ),
)
async def campagne_vue(
    periode: Periode,
    ctx: Ctx,
    session: DbSession,
    principal: Everyone,
    page: Pagination,
    caf_id: uuid.UUID | None = None,
) -> Response:
    """Per convention of the caller's scope; national readers get aggregates per Caf."""
    view = await service_suivis.campagne_vue(
        ctx, session, principal, periode, caf_id=caf_id, limit=page.limit, cursor=page.cursor
    )
    return json_response(view)


@router.get(
    "/moi/actions-a-renseigner",
    tags=["suivis"],
    summary="Mes actions à renseigner",
    description=(
        "Les actions que je peux mettre à jour dont le suivi de la campagne en cours "
        "manque, est en brouillon ou à compléter, dans toutes mes conventions."
    ),
)
async def actions_a_renseigner(
    ctx: Ctx,
    session: DbSession,
    principal: Everyone,
    page: Pagination,
    periode: Annotated[PeriodeTrimestre | None, Query()] = None,
) -> ARenseignerPage:
    """Actions you may update whose suivi of the current campaign is missing, in
    brouillon or à compléter, across all your conventions."""
    return await service_suivis.actions_a_renseigner(
        ctx, session, principal, periode, limit=page.limit, cursor=page.cursor
    )
