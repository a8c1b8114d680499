"""Bilans: point d'étape annuel, bilan intermédiaire, bilan final.

Adoption (Caf agent, after the COPIL) freezes a snapshot of the actions' statuts and
indicator values; the petite-enfance part becomes transmissible to the CDSF only once
every collectivité concerned has recorded its express agreement (who, when).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import etag_for, require_if_match
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions import repository_suivis as srepo
from services.actions.dependencies import ActionsContext
from services.actions.models import AccordCdsf, Bilan
from services.actions.rules import EtatBilan, en_retard
from services.actions.schemas import AccordOut, Adoption, BilanDetail, BilanIn, BilanPatch
from services.actions.service import require_caf_agent, require_new_work, writable_convention


async def _check_syntheses(
    session: AsyncSession, convention_id: uuid.UUID, syntheses: dict[uuid.UUID, str]
) -> dict[str, str]:
    known = await srepo.axe_ids(session, convention_id)
    unknown = [k for k in syntheses if k not in known]
    if unknown:
        raise InvalidPayload(
            "Une synthèse se rattache à un axe de la convention.",
            errors=[{"field": f"syntheses.{k}", "message": "axe inconnu"} for k in unknown],
        )
    return {str(k): v for k, v in syntheses.items()}


async def create_bilan(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    data: BilanIn,
) -> tuple[Bilan, ConventionRef]:
    convention = await writable_convention(ctx, session, principal, convention_id)
    require_caf_agent(principal, convention, "rédiger un bilan")
    require_new_work(ctx, convention)
    bilan = Bilan(
        id=uuid.uuid4(),
        convention_id=convention_id,
        type=data.type.value,
        periode_debut=data.periode_debut,
        periode_fin=data.periode_fin,
        etat=EtatBilan.brouillon.value,
        syntheses=await _check_syntheses(session, convention_id, data.syntheses),
        petite_enfance_transmissible=False,
        version=1,
    )
    session.add(bilan)
    await session.flush()
    return bilan, convention


async def load_bilan(
    session: AsyncSession, principal: Principal, bilan_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Bilan, ConventionRef]:
    found = await repo.scoped(session, Bilan, bilan_id, principal, for_update=for_update)
    if found is None:
        raise NotFound("Bilan introuvable.")
    return found


async def concernees(session: AsyncSession, convention: ConventionRef) -> list[uuid.UUID]:
    """Collectivités whose agreement the CDSF transmission needs: the porteurs of the
    petite-enfance actions, or every signatory collectivité when none is tagged."""
    porteurs = await srepo.petite_enfance_porteurs(session, convention.id)
    if not porteurs:
        porteurs = set(convention.signataire_ids) - {convention.caf_id}
    return sorted(porteurs)


async def bilan_detail(
    session: AsyncSession, bilan: Bilan, convention: ConventionRef
) -> BilanDetail:
    accords = await srepo.accords(session, bilan.id)
    return BilanDetail(
        id=bilan.id,
        convention_id=bilan.convention_id,
        type=bilan.type,
        periode_debut=bilan.periode_debut,
        periode_fin=bilan.periode_fin,
        etat=bilan.etat,
        date_adoption=bilan.date_adoption,
        petite_enfance_transmissible=bilan.petite_enfance_transmissible,
        version=bilan.version,
        syntheses=bilan.syntheses,
        instantane=bilan.instantane,
        accords=[AccordOut(collectivite_id=a.collectivite_id, par=a.par, at=a.at) for a in accords],
        collectivites_concernees=await concernees(session, convention),
    )


def _not_adopted(bilan: Bilan) -> None:
    if bilan.etat == EtatBilan.adopte:
        raise Conflict("Un bilan adopté est figé.", extra={"code": "bilan-adopte"})


async def update_bilan(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    bilan_id: uuid.UUID,
    data: BilanPatch,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "modifier un bilan")
    require_if_match(request, etag_for(bilan.id, bilan.version))
    _not_adopted(bilan)
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    if any(changes.get(k, 1) is None for k in ("periode_debut", "periode_fin", "syntheses")):
        raise InvalidPayload("Champ obligatoire vide.")
    if "syntheses" in changes:
        changes["syntheses"] = {
            **bilan.syntheses,
            **await _check_syntheses(session, bilan.convention_id, changes["syntheses"]),
        }
    start = changes.get("periode_debut", bilan.periode_debut)
    end = changes.get("periode_fin", bilan.periode_fin)
    if end < start:
        raise InvalidPayload(
            "La fin de la période précède son début.", errors=[{"field": "periode_fin"}]
        )
    for name, value in changes.items():
        setattr(bilan, name, value)
    await repo.touch(session, bilan)
    await session.flush()
    return bilan, convention


async def delete_bilan(
    session: AsyncSession, principal: Principal, request: Request, bilan_id: uuid.UUID
) -> None:
    """A draft written by mistake may go; an adopted bilan is the COPIL's record and stays."""
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "supprimer un bilan")
    require_if_match(request, etag_for(bilan.id, bilan.version))
    if bilan.etat == EtatBilan.adopte:
        raise Conflict(
            "Un bilan adopté est figé : il ne peut plus être supprimé.",
            extra={"code": "bilan-adopte"},
        )
    await srepo.delete_bilan(session, bilan)


async def snapshot(session: AsyncSession, convention_id: uuid.UUID, at: dt.date) -> dict[str, Any]:
    actions, indicateurs, valeurs = await srepo.snapshot_rows(session, convention_id)
    derniers = await srepo.derniers_suivis(session, [a.id for a in actions])
    return {
        "date": at.isoformat(),
        "actions": [
            {
                "id": str(a.id),
                "axe_id": str(a.axe_id),
                "parent_id": str(a.parent_id) if a.parent_id else None,
                "titre": a.titre,
                "thematique": a.thematique,
                "statut": a.statut,
                "en_retard": en_retard(a.statut, a.date_echeance, at),
                "dernier_suivi_valide": (
                    {"periode": derniers[a.id][1], "avancement": derniers[a.id][3]}
                    if a.id in derniers
                    else None
                ),
            }
            for a in actions
        ],
        "indicateurs": [
            {
                "id": str(i.id),
                "action_id": str(i.action_id),
                "libelle": i.libelle,
                "nature": i.nature,
                "unite": i.unite,
                "valeur_reference": str(i.valeur_reference)
                if i.valeur_reference is not None
                else None,
                "cibles": i.cibles,
                "valeurs": {v.periode: str(v.valeur) for v in valeurs[i.id]},
            }
            for i in indicateurs
        ],
    }


async def adopter(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    bilan_id: uuid.UUID,
    data: Adoption,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "adopter un bilan")
    require_if_match(request, etag_for(bilan.id, bilan.version))
    _not_adopted(bilan)
    bilan.etat = EtatBilan.adopte.value
    bilan.date_adoption = data.date_adoption
    bilan.instantane = await snapshot(session, bilan.convention_id, data.date_adoption)
    await repo.touch(session, bilan)
    await session.flush()
    return bilan, convention


async def accorder(
    session: AsyncSession,
    principal: Principal,
    bilan_id: uuid.UUID,
    collectivite_id: uuid.UUID | None,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    mine = principal.collectivite_write_ids()
    concerned = set(await concernees(session, convention))
    candidates = sorted(mine & concerned) if collectivite_id is None else [collectivite_id]
    if not candidates or candidates[0] not in mine:
        raise Forbidden(
            "Seule une collectivité concernée (contributeur ou référent) donne son accord."
        )
    if len(candidates) > 1:
        raise InvalidPayload(
            "Précisez la collectivité qui donne son accord.", errors=[{"field": "collectivite_id"}]
        )
    if candidates[0] not in concerned:
        raise Conflict("Cette collectivité n'est pas concernée par la partie petite enfance.")
    existing = {a.collectivite_id for a in await srepo.accords(session, bilan.id)}
    if candidates[0] not in existing:
        session.add(
            AccordCdsf(bilan_id=bilan.id, collectivite_id=candidates[0], par=principal.subject)
        )
        await repo.touch(session, bilan)
        await session.flush()
    return bilan, convention


async def transmettre(
    session: AsyncSession, principal: Principal, request: Request, bilan_id: uuid.UUID
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "transmettre un bilan à la CDSF")
    require_if_match(request, etag_for(bilan.id, bilan.version))
    if bilan.etat != EtatBilan.adopte:
        raise Conflict("Seul un bilan adopté peut être transmis à la CDSF.")
    agreed = {a.collectivite_id for a in await srepo.accords(session, bilan.id)}
    missing = [c for c in await concernees(session, convention) if c not in agreed]
    if missing:
        raise Conflict(
            "La partie petite enfance ne peut être transmise à la CDSF qu'avec l'accord exprès "
            "de chaque collectivité concernée.",
            extra={"code": "accords-manquants", "manquants": [str(m) for m in missing]},
        )
    if not bilan.petite_enfance_transmissible:
        bilan.petite_enfance_transmissible = True
        await repo.touch(session, bilan)
        await session.flush()
    return bilan, convention
