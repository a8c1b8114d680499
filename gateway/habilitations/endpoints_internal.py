"""Internal routes (``/internal/v1``) of the gateway, for the other apps of the suite
(service tokens only, kernel.internal_token.CallingService): who reads a convention,
who holds a role on organisations, a person's contact (kernel.people_ref). Never in the
public routing table, so never proxied; a person's access token is no internal token,
so the public door cannot answer them either."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import true

from gateway.habilitations import repository as repo
from gateway.habilitations.dependencies import Ctx
from kernel.database import DbSession
from kernel.errors import NotFound
from kernel.internal_token import CallingService
from kernel.people_ref import PersonneContact, PersonneRef, PersonneRefs
from kernel.principal import Role

router = APIRouter(prefix="/internal/v1", tags=["interne"])

_MAX_FILTER = 200


@router.get("/conventions/{convention_id}/personnes")
async def convention_people(
    convention_id: uuid.UUID,
    session: DbSession,
    ctx: Ctx,
    _service: CallingService,
    organisation: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=_MAX_FILTER, description="Organisations retenues."),
    ] = None,
    role: Annotated[
        list[Role] | None, Query(max_length=_MAX_FILTER, description="Rôles retenus.")
    ] = None,
    personne: Annotated[
        list[uuid.UUID] | None, Query(max_length=_MAX_FILTER, description="Personnes retenues.")
    ] = None,
    national: Annotated[
        bool, Query(description="Inclure les lecteurs nationaux (qui lisent tout).")
    ] = False,
) -> PersonneRefs:
    """The persons holding a grant active now (`settings.now()`) that reads the
    convention, one item per such grant; 404 when the convention is unknown even to the
    conventions service (the replica fetches a convention it has not seen yet)."""
    ref = await ctx.replica.get(session, convention_id)
    rows = await repo.convention_people(
        session,
        ref,
        ctx.settings.now(),
        national=national,
        organisations=organisation or (),
        roles=[r.value for r in role or ()],
        persons=personne or (),
    )
    return PersonneRefs(items=[PersonneRef.model_validate(r._asdict()) for r in rows])


@router.get("/personnes")
async def organisation_people(
    session: DbSession,
    ctx: Ctx,
    _service: CallingService,
    organisation: Annotated[
        list[uuid.UUID],
        Query(min_length=1, max_length=_MAX_FILTER, description="Organisations retenues."),
    ],
    role: Annotated[
        list[Role] | None, Query(max_length=_MAX_FILTER, description="Rôles retenus.")
    ] = None,
) -> PersonneRefs:
    """The persons holding a grant active now on one of the organisations (the referents
    of a collectivité, the agents of a Caf), one item per such grant."""
    rows = await repo.people_with_grants(
        session,
        true(),
        ctx.settings.now(),
        organisations=organisation,
        roles=[r.value for r in role or ()],
    )
    return PersonneRefs(items=[PersonneRef.model_validate(r._asdict()) for r in rows])


@router.get("/personnes/{personne_id}")
async def person_contact(
    personne_id: uuid.UUID, session: DbSession, _service: CallingService
) -> PersonneContact:
    """A person's name and verified e-mail, whatever their grants (the asker of an access
    request hears of its decision); 404 unknown."""
    row = await repo.person_contact(session, personne_id)
    if row is None:
        raise NotFound("Personne introuvable.")
    return PersonneContact.model_validate(row._asdict())
