"""Domain rules of the indicateurs of a fiche-action and their values per period.

Rights are the action's (`service.require_action_writer`); a target year or a value's
period must fall within the convention's years, and a value must suit the unit.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import InvalidPayload, NotFound, PreconditionFailed
from kernel.etag import etag_for, require_if_match
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions.models import Action, Indicateur, ValeurIndicateur
from services.actions.rules import Unite, annee_de_periode, fin_effective, probleme_valeur
from services.actions.schemas import IndicateurIn, IndicateurPatch, ValeurIn
from services.actions.service import (
    load_action,
    require_action_writer,
    require_put_preconditions,
)


def _years(convention: ConventionRef) -> tuple[int, int]:
    """The convention's first and last years (a résiliation ends it early)."""
    return (
        convention.date_debut.year,
        fin_effective(convention.date_fin, convention.date_effet_resiliation).year,
    )


def _check_indicateur(
    convention: ConventionRef,
    unite: Unite,
    valeur_reference: Any,
    cibles: dict[str, Any],
) -> None:
    errors: list[dict[str, str]] = []
    if valeur_reference is not None and (p := probleme_valeur(unite, valeur_reference)):
        errors.append({"field": "valeur_reference", "message": p})
    first, last = _years(convention)
    for year, value in sorted(cibles.items()):
        if not first <= int(year) <= last:
            errors.append(
                {
                    "field": f"cibles.{year}",
                    "message": f"{year} n'est pas une année de la convention ({first}-{last}).",
                }
            )
        elif p := probleme_valeur(unite, value):
            errors.append({"field": f"cibles.{year}", "message": p})
    if errors:
        raise InvalidPayload("Indicateur invalide : " + errors[0]["message"], errors=errors)


async def create_indicateur(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, data: IndicateurIn
) -> Indicateur:
    action, convention = await load_action(session, principal, action_id)
    require_action_writer(principal, convention, action)
    _check_indicateur(convention, data.unite, data.valeur_reference, data.cibles)
    indicateur = Indicateur(
        id=uuid.uuid4(),
        action_id=action.id,
        convention_id=action.convention_id,
        libelle=data.libelle,
        nature=data.nature.value,
        unite=data.unite.value,
        valeur_reference=data.valeur_reference,
        date_reference=data.date_reference,
        cibles={k: str(v) for k, v in data.cibles.items()},
        version=1,
    )
    session.add(indicateur)
    await session.flush()
    return indicateur


async def load_indicateur(
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Indicateur, Action, ConventionRef]:
    found = await repo.scoped_indicateur(
        session, action_id, indicateur_id, principal, for_update=for_update
    )
    if found is None:
        raise NotFound("Indicateur introuvable.")
    return found


async def update_indicateur(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    data: IndicateurPatch,
) -> Indicateur:
    indicateur, action, convention = await load_indicateur(
        session, principal, action_id, indicateur_id, for_update=True
    )
    require_action_writer(principal, convention, action)
    require_if_match(request, etag_for(indicateur.id, indicateur.version))
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    for required in ("libelle", "nature", "unite", "cibles"):
        if required in changes and changes[required] is None:
            raise InvalidPayload(
                f"« {required} » ne peut pas être vide.", errors=[{"field": required}]
            )
    unite = Unite(changes.get("unite", indicateur.unite))
    reference = changes.get("valeur_reference", indicateur.valeur_reference)
    cibles = changes.get("cibles", indicateur.cibles)
    _check_indicateur(convention, unite, reference, {k: Decimal(str(v)) for k, v in cibles.items()})
    for name, value in changes.items():
        if name == "cibles":
            value = {k: str(v) for k, v in value.items()}
        setattr(indicateur, name, value.value if hasattr(value, "value") else value)
    await repo.touch(session, indicateur)
    await session.flush()
    return indicateur


def check_periode_valeur(convention: ConventionRef, periode: str) -> None:
    first, last = _years(convention)
    if not first <= annee_de_periode(periode) <= last:
        raise InvalidPayload(
            f"La période {periode} est hors de la convention ({first}-{last}).",
            errors=[{"field": "periode", "message": "hors de la convention"}],
        )


async def put_valeur(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: str,
    data: ValeurIn,
) -> tuple[ValeurIndicateur, bool]:
    """Create or replace the value of a period; True when it was created."""
    indicateur, action, convention = await load_indicateur(
        session, principal, action_id, indicateur_id, for_update=True
    )
    require_action_writer(principal, convention, action)
    check_periode_valeur(convention, periode)
    # The indicator's row lock serialises the PUTs of its values.
    existing = await repo.valeur_of(session, indicateur.id, periode, for_update=True)
    require_put_preconditions(
        request, etag_for(existing.id, existing.version) if existing is not None else None
    )
    if p := probleme_valeur(Unite(indicateur.unite), data.valeur):
        raise InvalidPayload(p, errors=[{"field": "valeur", "message": p}])
    if existing is None:
        valeur = await repo.insert_new(
            session,
            ValeurIndicateur,
            indicateur_id=indicateur.id,
            periode=periode,
            valeur=data.valeur,
            commentaire=data.commentaire,
            source=data.source,
            auteur=principal.subject,
        )
        if valeur is None:
            # Cannot happen while every writer of values locks the indicator first
            # (validation does too); refuse rather than overwrite if one day it does.
            raise PreconditionFailed(
                "La valeur de cette période vient d'être enregistrée : rechargez-la puis "
                "recommencez."
            )
    else:
        valeur = existing
        valeur.valeur = data.valeur
        valeur.commentaire = data.commentaire
        valeur.source = data.source
        valeur.auteur = principal.subject
        valeur.version += 1
        valeur.updated_at = repo.utcnow()
    # The indicator lists its values: delta sync must see it changed.
    await repo.touch(session, indicateur)
    await session.flush()
    return valeur, existing is None


async def delete_indicateur(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
) -> None:
    indicateur, action, convention = await load_indicateur(
        session, principal, action_id, indicateur_id, for_update=True
    )
    require_action_writer(principal, convention, action)
    require_if_match(request, etag_for(indicateur.id, indicateur.version))
    await repo.delete_indicateur(session, indicateur)
