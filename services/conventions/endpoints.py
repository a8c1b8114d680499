"""Routes of conventions and their signataires (``/api/v1/conventions``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from kernel.convention_ref import StatutConvention
from kernel.database import DbSession
from kernel.etag import IfMatch, IfMatchWhenSent, IfNoneMatch, etag_for
from kernel.idempotency import IdempotentRoute
from kernel.internal_token import CurrentPrincipal
from kernel.json_response import json_response
from kernel.pagination import Page, Pagination
from kernel.rights import Everyone
from services.conventions import repository as repo
from services.conventions import rights, service, service_views
from services.conventions.dependencies import Today
from services.conventions.models import Convention
from services.conventions.repository import ConventionRow
from services.conventions.rights import ConventionRead, ConventionWrite
from services.conventions.schemas import (
    ConventionCreate,
    ConventionOut,
    ConventionPatch,
    ConventionSummary,
    SignataireIn,
    SignataireOut,
    SignatairePatch,
)
from services.conventions.service import SigRows

router = APIRouter(prefix="/api/v1/conventions", tags=["conventions"], route_class=IdempotentRoute)


def convention_etag(convention: Convention | ConventionRow) -> str:
    return etag_for(convention.id, convention.version)


async def respond(
    session: DbSession,
    principal: CurrentPrincipal,
    convention: Convention,
    today: Today,
    response: Response,
    sigs: SigRows | None = None,
) -> ConventionOut:
    response.headers["ETag"] = convention_etag(convention)
    return await service_views.representation(session, principal, convention, today, sigs)


@router.get(
    "",
    response_model=Page[ConventionSummary],
    summary="Lister les conventions",
    description=(
        "Les conventions du périmètre de l'appelant, par pages (`cursor`) ; filtres et "
        "synchronisation par delta (`updated_since`)."
    ),
)
async def list_conventions(
    session: DbSession,
    principal: Everyone,
    page: Pagination,
    today: Today,
    caf_id: uuid.UUID | None = None,
    organisation_id: Annotated[
        uuid.UUID | None, Query(description="Conventions signées par cette organisation")
    ] = None,
    statut: StatutConvention | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Response:
    """A Page[ConventionSummary] written straight to JSON (see kernel.json_response)."""
    found = await repo.list_conventions(
        session,
        principal,
        caf_id=caf_id,
        organisation_id=organisation_id,
        statut=statut.value if statut else None,
        q=q,
        cursor=page.cursor,
        limit=page.limit,
    )
    items = await service_views.summaries(session, principal, found.rows, today)
    return json_response({"items": items, "next_cursor": found.next_cursor})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Créer une convention",
    description="Une convention en préparation, avec ses signataires (agents de la Caf).",
)
async def create_convention(
    data: ConventionCreate,
    session: DbSession,
    principal: rights.ConventionCreate,
    today: Today,
    response: Response,
) -> ConventionOut:
    convention = await service.create_convention(session, principal, data, today)
    response.headers["Location"] = f"/api/v1/conventions/{convention.id}"
    return await respond(session, principal, convention, today, response)


@router.get(
    "/{convention_id}",
    response_model=ConventionOut,
    responses={304: {"description": "Inchangée depuis l'ETag envoyé dans If-None-Match"}},
    summary="Lire une convention",
    description=(
        "La convention, ses signataires et son état, avec son ETag ; 304 quand "
        "`If-None-Match` nomme son ETag et qu'elle n'a pas changé."
    ),
)
async def get_convention(
    convention_id: uuid.UUID,
    preconditions: IfNoneMatch,
    session: DbSession,
    principal: ConventionRead,
    today: Today,
) -> Response:
    """A ConventionOut written straight to JSON (see kernel.json_response); 304 when
    If-None-Match names its ETag and it reads the same."""
    convention, out = await service_views.readable_representation(
        session, principal, convention_id, today, preconditions
    )
    headers = {"ETag": convention_etag(convention)}
    if out is None:
        return Response(status_code=304, headers=headers)
    return json_response(out, headers=headers)


@router.patch(
    "/{convention_id}",
    summary="Modifier une convention",
    description=(
        "Modifie une convention en préparation (une convention signée change par avenant) ;"
    ),
)
async def patch_convention(
    convention_id: uuid.UUID,
    data: ConventionPatch,
    preconditions: IfMatch,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
) -> ConventionOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    await service.patch_convention(session, principal, convention, data)
    return await respond(session, principal, convention, today, response)


@router.get(
    "/{convention_id}/signataires",
    summary="Lister les signataires",
    description="Les organisations signataires de la convention et leur rôle.",
)
async def list_signataires(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead
) -> list[SignataireOut]:
    await service.load_readable(session, principal, convention_id)
    sigs = await repo.signataires_of_convention(session, convention_id)
    return [SignataireOut.model_validate(service_views.SIGNATAIRE(s)) for s in sigs]


@router.post(
    "/{convention_id}/signataires",
    status_code=status.HTTP_201_CREATED,
    summary="Ajouter un signataire",
    description="Ajoute une organisation signataire à une convention en préparation.",
)
async def add_signataire(
    convention_id: uuid.UUID,
    data: SignataireIn,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
) -> ConventionOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    await service.add_signataire(session, principal, convention, data)
    return await respond(session, principal, convention, today, response)


@router.patch(
    "/{convention_id}/signataires/{organisation_id}",
    summary="Modifier un signataire",
    description="Modifie les informations d'un signataire.",
)
async def patch_signataire(
    convention_id: uuid.UUID,
    organisation_id: uuid.UUID,
    data: SignatairePatch,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
) -> ConventionOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    await service.patch_signataire(session, principal, convention, organisation_id, data)
    return await respond(session, principal, convention, today, response)


@router.delete(
    "/{convention_id}/signataires/{organisation_id}",
    summary="Retirer un signataire",
    description="Retire un signataire d'une convention en préparation.",
)
async def remove_signataire(
    convention_id: uuid.UUID,
    organisation_id: uuid.UUID,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
) -> ConventionOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    await service.remove_signataire(session, principal, convention, organisation_id)
    return await respond(session, principal, convention, today, response)
