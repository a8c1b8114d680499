"""Lifecycle routes: signature, avenants and versions, renouvellement, Annexe 2
équipements and the "vaut schéma d'AO" check (the end of the convention:
endpoints_resiliation)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from kernel.database import DbSession
from kernel.errors import NotFound
from kernel.etag import IfMatchWhenSent
from kernel.history import EntreeHistorique
from kernel.idempotency import IdempotentRoute
from kernel.input import Numero
from kernel.pagination import Page, Pagination
from services.conventions import repository as repo
from services.conventions import service, service_avenants, service_lifecycle
from services.conventions.dependencies import Bilans, Today
from services.conventions.endpoints import convention_etag, respond
from services.conventions.history import EQUIPEMENT, HISTORY
from services.conventions.rights import ConventionRead, ConventionWrite
from services.conventions.schemas import (
    AvenantIn,
    AvenantOut,
    ConventionOut,
    EquipementIn,
    EquipementOut,
    RenouvellementIn,
    SchemaAOOut,
    SignatureIn,
    VersionOut,
    VersionSummary,
)

router = APIRouter(prefix="/api/v1/conventions", tags=["cycle de vie"], route_class=IdempotentRoute)


@router.post(
    "/{convention_id}/signature",
    summary="Signer une convention",
    description=(
        "La convention en préparation devient signée quand chaque signataire a signé ; "
        "ce qui manque encore : 409 (`manquants`). Une CTG signée avant Coopération "
        "s'enregistre avec `ctg_existante`."
    ),
)
async def sign(
    convention_id: uuid.UUID,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
    data: SignatureIn | None = None,
) -> ConventionOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    sigs = await service_lifecycle.sign(
        session, principal, convention, today, data or SignatureIn()
    )
    return await respond(session, principal, convention, today, response, sigs)


@router.get(
    "/{convention_id}/avenants",
    summary="Lister les avenants",
    description="Les avenants de la convention, du plus ancien au plus récent.",
)
async def list_avenants(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead
) -> list[AvenantOut]:
    await service.load_readable(session, principal, convention_id)
    return [
        AvenantOut.model_validate(a, from_attributes=True)
        for a in await repo.avenants_of(session, convention_id)
    ]


@router.post(
    "/{convention_id}/avenants",
    status_code=status.HTTP_201_CREATED,
    summary="Ajouter un avenant",
    description="Un avenant à une convention signée ; la convention change de version.",
)
async def add_avenant(
    convention_id: uuid.UUID,
    data: AvenantIn,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
) -> AvenantOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    avenant = await service_avenants.add_avenant(session, principal, convention, data, today)
    response.headers["ETag"] = convention_etag(convention)
    return AvenantOut.model_validate(avenant, from_attributes=True)


@router.get(
    "/{convention_id}/versions",
    summary="Lister les versions",
    description="Les versions successives de la convention (signature, avenants).",
)
async def list_versions(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead
) -> list[VersionSummary]:
    await service.load_readable(session, principal, convention_id)
    return [
        VersionSummary(numero=r.numero, avenant_id=r.avenant_id, cree_le=r.cree_le)
        for r in await repo.versions_of(session, convention_id)
    ]


@router.get(
    "/{convention_id}/versions/{numero}",
    summary="Lire une version",
    description="La convention telle qu'elle était à cette version.",
)
async def get_version(
    convention_id: uuid.UUID, numero: Numero, session: DbSession, principal: ConventionRead
) -> VersionOut:
    await service.load_readable(session, principal, convention_id)
    version = await repo.get_version(session, convention_id, numero)
    if version is None:
        raise NotFound("Version introuvable.")
    return VersionOut.model_validate(version, from_attributes=True)


@router.post(
    "/{convention_id}/renouvellement",
    status_code=status.HTTP_201_CREATED,
    summary="Renouveler une convention",
    description=(
        "Crée la convention suivante en préparation ; demande le bilan final de la "
        "convention, adopté."
    ),
)
async def renouveler(
    convention_id: uuid.UUID,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
    today: Today,
    response: Response,
    bilans: Bilans,
    data: RenouvellementIn | None = None,
) -> ConventionOut:
    """Requires the convention's bilan final, adopted (asked of the actions service)."""
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    new = await service_lifecycle.renouveler(
        session, principal, convention, data or RenouvellementIn(), bilans
    )
    response.headers["Location"] = f"/api/v1/conventions/{new.id}"
    return await respond(session, principal, new, today, response)


@router.get(
    "/{convention_id}/equipements",
    summary="Lister les équipements (Annexe 2)",
    description="Les équipements et services de l'Annexe 2 de la convention.",
)
async def list_equipements(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead
) -> list[EquipementOut]:
    await service.load_readable(session, principal, convention_id)
    return [
        EquipementOut.model_validate(e, from_attributes=True)
        for e in await repo.equipements_of(session, convention_id)
    ]


@router.post(
    "/{convention_id}/equipements",
    status_code=status.HTTP_201_CREATED,
    summary="Ajouter un équipement (Annexe 2)",
    description="Ajoute un équipement ou un service à l'Annexe 2 de la convention.",
)
async def add_equipement(
    convention_id: uuid.UUID,
    data: EquipementIn,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
) -> EquipementOut:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    equipement = await service_lifecycle.add_equipement(session, principal, convention, data)
    return EquipementOut.model_validate(equipement, from_attributes=True)


@router.delete(
    "/{convention_id}/equipements/{equipement_id}",
    status_code=204,
    summary="Retirer un équipement (Annexe 2)",
    description="Retire un équipement de l'Annexe 2 ; son historique est gardé.",
)
async def remove_equipement(
    convention_id: uuid.UUID,
    equipement_id: uuid.UUID,
    preconditions: IfMatchWhenSent,
    session: DbSession,
    principal: ConventionWrite,
) -> Response:
    convention = await service.load_writable(session, principal, convention_id, preconditions)
    await service_lifecycle.remove_equipement(session, principal, convention, equipement_id)
    return Response(status_code=204)


@router.get(
    "/{convention_id}/equipements/{equipement_id}/historique",
    summary="Historique d'un équipement de l'Annexe 2",
    description=(
        "Du plus récent au plus ancien ; un équipement retiré depuis garde son "
        "historique (son retrait en dernier)."
    ),
)
async def equipement_history(
    convention_id: uuid.UUID,
    equipement_id: uuid.UUID,
    session: DbSession,
    principal: ConventionRead,
    page: Pagination,
) -> Page[EntreeHistorique]:
    """Newest first; an équipement removed since keeps its history (its removal last)."""
    await service.load_readable(session, principal, convention_id)
    history = await HISTORY.object_page(
        session, equipement_id, page, objet_type=EQUIPEMENT.name, convention_id=convention_id
    )
    if (
        not history.items
        and await repo.get_equipement(session, convention_id, equipement_id) is None
    ):
        raise NotFound("Équipement introuvable.")
    return history


@router.get(
    "/{convention_id}/schema-ao",
    summary="Schéma de l'autorité organisatrice",
    description=(
        "Pour chaque commune signataire, qui exerce chacune des quatre compétences "
        "d'autorité organisatrice (AO) de l'accueil du jeune enfant."
    ),
)
async def schema_ao(
    convention_id: uuid.UUID, session: DbSession, principal: ConventionRead, today: Today
) -> SchemaAOOut:
    convention = await service.load_readable(session, principal, convention_id)
    return await service_lifecycle.schema_ao(session, convention, today)
