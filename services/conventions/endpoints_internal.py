"""Internal routes (``/internal/v1``): the convention reference feed and organisations for
the other apps (service tokens); the access list of a principal and this service's part
of a convention's history feed (gateway tokens: a reader's)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from kernel.convention_ref import ConventionRef, ReferencesPage
from kernel.database import DbSession
from kernel.errors import InvalidPayload, NotFound
from kernel.history import EntreeHistorique
from kernel.internal_token import CallingService, CurrentPrincipal
from kernel.pagination import Page, Pagination
from services.conventions import repository as repo
from services.conventions import service
from services.conventions.history import HISTORY
from services.conventions.schemas import AccesItem, OrganisationOut
from services.conventions.service_organisations import organisation_out

router = APIRouter(prefix="/internal/v1", tags=["interne"])

MAX_IDS = 500


@router.get("/conventions/references")
async def references(
    session: DbSession,
    _service: CallingService,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> ReferencesPage:
    """Every convention changed after `after`, ordered by change sequence number."""
    rows = await repo.references_after(session, after, limit)
    return ReferencesPage(items=[ConventionRef.model_validate(r._asdict()) for r in rows])


@router.get("/conventions/{convention_id}/reference")
async def reference(
    convention_id: uuid.UUID, session: DbSession, _service: CallingService
) -> ConventionRef:
    row = await repo.reference(session, convention_id)
    if row is None:
        raise NotFound("Convention introuvable.")
    return ConventionRef.model_validate(row._asdict())


@router.get("/organisations")
async def organisations(
    session: DbSession,
    _service: CallingService,
    ids: Annotated[str, Query(min_length=1, max_length=MAX_IDS * 37)],
) -> list[OrganisationOut]:
    try:
        wanted = [uuid.UUID(part) for part in ids.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidPayload(
            "Identifiants invalides.", errors=[{"field": "ids", "location": "query"}]
        ) from exc
    if len(wanted) > MAX_IDS:
        raise InvalidPayload(f"Au plus {MAX_IDS} identifiants.", errors=[{"field": "ids"}])
    found = await repo.get_organisations(session, wanted)
    return [organisation_out(found[i]) for i in dict.fromkeys(wanted) if i in found]


@router.get("/organisations/{organisation_id}")
async def organisation(
    organisation_id: uuid.UUID, session: DbSession, _service: CallingService
) -> OrganisationOut:
    org = await repo.get_organisation(session, organisation_id)
    if org is None:
        raise NotFound("Organisation introuvable.")
    return organisation_out(org)


@router.get("/conventions/{convention_id}/historique")
async def historique(
    convention_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, page: Pagination
) -> Page[EntreeHistorique]:
    """This service's part of the convention's feed, for the reader the gateway names
    (404 outside their scope): the convention, its signatories, its Annexe 2, its
    mises en demeure (`kernel.history.History.feed`)."""
    await service.load_readable(session, principal, convention_id)
    return await HISTORY.feed(session, convention_id, page)


@router.get("/acces", response_model=Page[AccesItem])
async def acces(
    session: DbSession, principal: CurrentPrincipal, page: Pagination
) -> Page[AccesItem]:
    """The conventions the calling principal may see, and its right on each:
    `écriture` (Caf agent of the convention), `contribution` (write role on a signatory
    collectivité: actions it carries, suivis, documents), else `lecture`."""
    found = await repo.accessible(session, principal, page.cursor, page.limit)

    def item(row: repo.AccesRow) -> AccesItem:
        droit = "écriture" if row.ecriture else "contribution" if row.contribution else "lecture"
        return AccesItem(convention_id=row.id, droit=droit)

    return Page[AccesItem](items=[item(r) for r in found.rows], next_cursor=found.next_cursor)
