"""Routes of the organisations registry (``/api/v1/organisations``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from kernel.database import DbSession
from kernel.errors import NotFound
from kernel.etag import IfMatch, etag_for
from kernel.history import EntreeHistorique
from kernel.idempotency import IdempotentRoute
from kernel.pagination import Page, Pagination, make_page
from kernel.rights import Everyone
from services.conventions import repository as repo
from services.conventions.history import HISTORY, ORGANISATION
from services.conventions.models import TypeOrganisation
from services.conventions.rights import OrganisationCreate, OrganisationWrite
from services.conventions.schemas import OrganisationIn, OrganisationOut, OrganisationPatch
from services.conventions.service_organisations import (
    create_organisation,
    organisation_out,
    patch_organisation,
)

router = APIRouter(
    prefix="/api/v1/organisations", tags=["organisations"], route_class=IdempotentRoute
)


@router.get(
    "",
    response_model=Page[OrganisationOut],
    summary="Rechercher des organisations",
    description=(
        "Le répertoire des organisations (Caf, communes, EPCI, départements…), filtré "
        "par nom, type ou département, par pages."
    ),
)
async def search(
    session: DbSession,
    principal: Everyone,
    page: Pagination,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Nom (partiel) ou code")
    ] = None,
    type: Annotated[TypeOrganisation | None, Query()] = None,
    departement: Annotated[str | None, Query(max_length=3)] = None,
    epci_id: Annotated[uuid.UUID | None, Query(description="Communes membres de cet EPCI")] = None,
) -> Page[OrganisationOut]:
    # The registry is reference data: every authenticated principal may read it.
    rows = await repo.search_organisations(
        session,
        q=q,
        type_=type.value if type else None,
        departement=departement,
        epci_id=epci_id,
        cursor=page.cursor,
        limit=page.limit,
    )
    return make_page(rows, page.limit, lambda o: (o.nom, o.id), organisation_out)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Créer une organisation",
    description=(
        "Ajoute une collectivité au répertoire (les Caf et la Cnaf viennent du "
        "référentiel national)."
    ),
)
async def create(
    data: OrganisationIn, session: DbSession, principal: OrganisationCreate, response: Response
) -> OrganisationOut:
    org = await create_organisation(session, principal, data)
    response.headers["Location"] = f"/api/v1/organisations/{org.id}"
    response.headers["ETag"] = etag_for(org.id, org.version)
    return organisation_out(org)


@router.get(
    "/{organisation_id}",
    summary="Lire une organisation",
    description="L'organisation, ses codes et ses compétences, avec son ETag.",
)
async def get(
    organisation_id: uuid.UUID, session: DbSession, principal: Everyone, response: Response
) -> OrganisationOut:
    org = await repo.get_organisation(session, organisation_id)
    if org is None:
        raise NotFound("Organisation introuvable.")
    response.headers["ETag"] = etag_for(org.id, org.version)
    return organisation_out(org)


@router.get(
    "/{organisation_id}/historique",
    summary="Historique d'une organisation du répertoire",
    description=(
        "Qui l'a ajoutée au répertoire et corrigée, du plus récent au plus ancien (les "
        "Caf et la Cnaf, chargées par l'import national, n'en ont pas)."
    ),
)
async def history(
    organisation_id: uuid.UUID, session: DbSession, principal: Everyone, page: Pagination
) -> Page[EntreeHistorique]:
    """Who added it to the registry and corrected it, newest first (the Cafs and the
    Cnaf, loaded by the national import, have none)."""
    if await repo.get_organisation(session, organisation_id) is None:
        raise NotFound("Organisation introuvable.")
    return await HISTORY.object_page(session, organisation_id, page, objet_type=ORGANISATION.name)


@router.patch(
    "/{organisation_id}",
    summary="Modifier une organisation",
    description="Seuls les champs envoyés changent ; son type ne change jamais.",
)
async def patch(
    organisation_id: uuid.UUID,
    data: OrganisationPatch,
    preconditions: IfMatch,
    session: DbSession,
    principal: OrganisationWrite,
    response: Response,
) -> OrganisationOut:
    org = await patch_organisation(session, principal, organisation_id, data, preconditions)
    response.headers["ETag"] = etag_for(org.id, org.version)
    return organisation_out(org)
