"""The end of the convention (art. 12): mises en demeure and résiliation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from kernel.database import DbSession
from kernel.etag import IfMatchWhenSent
from kernel.idempotency import IdempotentRoute
from services.conventions import repository as repo
from services.conventions import service, service_resiliation
from services.conventions.dependencies import Today
from services.conventions.endpoints import convention_etag, respond
from services.conventions.rights import ConventionPartyWrite, ConventionRead
from services.conventions.schemas import (
    ConventionOut,
    LeveeIn,
    MiseEnDemeureIn,
    MiseEnDemeureOut,
    ResiliationIn,
)

router = APIRouter(prefix="/api/v1/conventions", tags=["cycle de vie"], route_class=IdempotentRoute)


@router.get(
    "/{convention_id}/mises-en-demeure",
    summary="Lister les mises en demeure",
    description="Les mises en demeure de la convention (art. 12), levées ou non.",
)
async def list_mises_en_demeure(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead
) -> list[MiseEnDemeureOut]:
    await service.load_readable(session, principal, convention_id)
    letters = await repo.mises_en_demeure_of(session, convention_id)
    return await service_resiliation.mises_en_demeure_out(session, letters)


@router.post(
    "/{convention_id}/mises-en-demeure",
    status_code=status.HTTP_201_CREATED,
    summary="Mettre en demeure",
    description=(
        "Art. 12 : la lettre recommandée qui peut conduire, un mois plus tard et restée"
        " sans effet, à une résiliation « avec mise en demeure ». Un agent de la Caf la"
        " saisit pour toute partie, le référent d'une collectivité signataire pour sa "
        "collectivité."
    ),
)
async def mettre_en_demeure(
    convention_id: uuid.UUID,
    data: MiseEnDemeureIn,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionPartyWrite,
    today: Today,
    response: Response,
) -> MiseEnDemeureOut:
    """Art. 12: the registered letter that may lead, a month later and left unanswered,
    to a résiliation "avec mise en demeure". A Caf agent enters it for any party, a
    signatory collectivité's referent for its own collectivité."""
    convention, sigs, acting = await service.load_for_parties(
        session, principal, convention_id, preconditions
    )
    created = await service_resiliation.mettre_en_demeure(
        session, principal, convention, sigs, acting, data, today
    )
    response.headers["ETag"] = convention_etag(convention)
    response.headers["Location"] = (
        f"/api/v1/conventions/{convention_id}/mises-en-demeure/{created.id}"
    )
    return (await service_resiliation.mises_en_demeure_out(session, [created]))[0]


@router.post(
    "/{convention_id}/mises-en-demeure/{mise_en_demeure_id}/levee",
    summary="Lever une mise en demeure",
    description=(
        "La partie s'est conformée : la mise en demeure est close (par la partie qui l'a envoyée)."
    ),
)
async def lever(
    convention_id: uuid.UUID,
    mise_en_demeure_id: uuid.UUID,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionPartyWrite,
    today: Today,
    response: Response,
    data: LeveeIn | None = None,
) -> MiseEnDemeureOut:
    """The party complied: closes the mise en demeure (by the party that sent it)."""
    convention, sigs, acting = await service.load_for_parties(
        session, principal, convention_id, preconditions
    )
    closed = await service_resiliation.lever(
        session, principal, convention, sigs, acting, mise_en_demeure_id, data or LeveeIn(), today
    )
    response.headers["ETag"] = convention_etag(convention)
    return (await service_resiliation.mises_en_demeure_out(session, [closed]))[0]


@router.post(
    "/{convention_id}/resiliation",
    summary="Résilier une convention",
    description=(
        "Art. 12 : avec mise en demeure (par la partie qui l'a envoyée, un mois après, "
        "restée sans effet), sans mise en demeure (par la Caf), ou dénonciation (par "
        "toute partie, préavis de six mois). Enregistre la partie qui en a pris "
        "l'initiative et le motif."
    ),
)
async def resilier(
    convention_id: uuid.UUID,
    data: ResiliationIn,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionPartyWrite,
    today: Today,
    response: Response,
) -> ConventionOut:
    """Art. 12: avec mise en demeure (by the party that sent it, a month after it, left
    unanswered), sans mise en demeure (by the Caf), or dénonciation (by any party, six
    months' notice). Records the party that initiated it and why."""
    convention, sigs, acting = await service.load_for_parties(
        session, principal, convention_id, preconditions
    )
    await service_resiliation.resilier(session, principal, convention, sigs, acting, data, today)
    return await respond(session, principal, convention, today, response, sigs)
