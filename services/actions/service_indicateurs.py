"""Domain rules of the indicateurs and their values per period.

An indicator belongs to an action (rights: the action's, `service.require_action_writer`),
or to an axe or the convention as a whole (rights: those who conduct the evaluation,
`service.require_evaluation_writer`). A target year or a value's period must fall within
the convention's years, and a value must suit the unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import InvalidPayload, NotFound, PreconditionFailed
from kernel.etag import Preconditions, etag_for
from kernel.history import Snapshot
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions.dependencies import ActionsContext
from services.actions.history import HISTORY, INDICATEUR, VALEUR
from services.actions.models import Action, Indicateur, ValeurIndicateur
from services.actions.rules import Unite, annee_de_periode, fin_effective, probleme_valeur
from services.actions.schemas import (
    IndicateurConventionIn,
    IndicateurConventionPatch,
    IndicateurIn,
    IndicateurPatch,
    ValeurIn,
)
from services.actions.service import (
    Travail,
    load_action,
    require_action_writer,
    require_convention_accepts,
    require_evaluation_writer,
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
    valeur_reference: Decimal | None,
    cibles: Mapping[str, Decimal],
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


async def _record(
    session: AsyncSession,
    principal: Principal,
    indicateur: Indicateur,
    before: Snapshot | None,
    *,
    deleted: bool = False,
) -> None:
    """An indicator's change, under its action or its axe (their histories show it)."""
    await HISTORY.record(
        session,
        principal,
        INDICATEUR,
        indicateur,
        before,
        deleted=deleted,
        parent_id=indicateur.action_id or indicateur.axe_id,
    )


def _new_indicateur(
    convention: ConventionRef,
    data: IndicateurIn,
    action_id: uuid.UUID | None = None,
    axe_id: uuid.UUID | None = None,
) -> Indicateur:
    _check_indicateur(convention, data.unite, data.valeur_reference, data.cibles)
    return Indicateur(
        id=uuid.uuid4(),
        action_id=action_id,
        axe_id=axe_id,
        convention_id=convention.id,
        libelle=data.libelle,
        nature=data.nature.value,
        unite=data.unite.value,
        valeur_reference=data.valeur_reference,
        date_reference=data.date_reference,
        cibles={k: str(v) for k, v in data.cibles.items()},
        version=1,
    )


async def create_indicateur(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    data: IndicateurIn,
) -> Indicateur:
    action, convention = await load_action(session, principal, action_id)
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.plan)
    indicateur = _new_indicateur(convention, data, action_id=action.id)
    session.add(indicateur)
    await session.flush()
    await _record(session, principal, indicateur, None)
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


async def _writable_indicateur(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
) -> tuple[Indicateur, ConventionRef]:
    indicateur, action, convention = await load_indicateur(
        session, principal, action_id, indicateur_id, for_update=True
    )
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.plan)
    return indicateur, convention


async def update_indicateur(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    data: IndicateurPatch,
) -> Indicateur:
    indicateur, convention = await _writable_indicateur(
        ctx, session, principal, action_id, indicateur_id
    )
    preconditions.check(etag_for(indicateur.id, indicateur.version))
    return await _update(session, principal, indicateur, convention, data)


async def _update(
    session: AsyncSession,
    principal: Principal,
    indicateur: Indicateur,
    convention: ConventionRef,
    data: IndicateurPatch,
) -> Indicateur:
    before = INDICATEUR.snapshot(indicateur)
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
    await _record(session, principal, indicateur, before)
    return indicateur


def check_periode_valeur(convention: ConventionRef, periode: str) -> None:
    first, last = _years(convention)
    if not first <= annee_de_periode(periode) <= last:
        raise InvalidPayload(
            f"La période {periode} est hors de la convention ({first}-{last}).",
            errors=[{"field": "periode", "message": "hors de la convention"}],
        )


async def put_valeur(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: str,
    data: ValeurIn,
) -> tuple[ValeurIndicateur, bool]:
    """Create or replace the value of a period; True when it was created."""
    indicateur, convention = await _writable_indicateur(
        ctx, session, principal, action_id, indicateur_id
    )
    return await _put_valeur(
        session, principal, preconditions, indicateur, convention, periode, data
    )


async def _put_valeur(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    indicateur: Indicateur,
    convention: ConventionRef,
    periode: str,
    data: ValeurIn,
) -> tuple[ValeurIndicateur, bool]:
    check_periode_valeur(convention, periode)
    # The indicator's row lock serialises the PUTs of its values.
    existing = await repo.valeur_of(session, indicateur.id, periode, for_update=True)
    preconditions.check(etag_for(existing.id, existing.version) if existing is not None else None)
    if p := probleme_valeur(Unite(indicateur.unite), data.valeur):
        raise InvalidPayload(p, errors=[{"field": "valeur", "message": p}])
    before = None if existing is None else VALEUR.snapshot(existing)
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
            auteur_nom=principal.name,
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
        valeur.auteur_nom = principal.name
        valeur.version += 1
        valeur.updated_at = repo.utcnow()
    # The indicator lists its values: delta sync must see it changed.
    await repo.touch(session, indicateur)
    await session.flush()
    await HISTORY.record(
        session, principal, VALEUR, valeur, before, convention_id=indicateur.convention_id
    )
    return valeur, existing is None


async def delete_indicateur(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    indicateur_id: uuid.UUID,
) -> None:
    indicateur, _ = await _writable_indicateur(ctx, session, principal, action_id, indicateur_id)
    preconditions.check(etag_for(indicateur.id, indicateur.version))
    before = INDICATEUR.snapshot(indicateur)
    await repo.delete_indicateur(session, indicateur)
    await _record(session, principal, indicateur, before, deleted=True)


# --- indicators of the convention and of its axes -------------------------------------


async def _check_axe(
    session: AsyncSession, convention_id: uuid.UUID, axe_id: uuid.UUID | None
) -> None:
    if axe_id is not None and await repo.axe_in_convention(session, axe_id, convention_id) is None:
        raise InvalidPayload("Axe inconnu dans cette convention.", errors=[{"field": "axe_id"}])


async def create_indicateur_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    data: IndicateurConventionIn,
) -> Indicateur:
    """An indicator of the convention as a whole, or of one of its axes (art. 9: "non pas
    par chaque dispositif ou action pris isolément, mais par les effets de l'ensemble")."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    require_evaluation_writer(principal, convention, "définir les indicateurs de la convention")
    require_convention_accepts(ctx, principal, convention, Travail.plan)
    await _check_axe(session, convention_id, data.axe_id)
    indicateur = _new_indicateur(convention, data, axe_id=data.axe_id)
    session.add(indicateur)
    await session.flush()
    await _record(session, principal, indicateur, None)
    return indicateur


async def load_indicateur_convention(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Indicateur, ConventionRef]:
    """An indicator of the convention or of one of its axes (an action's: 404 here)."""
    found = await repo.scoped(session, Indicateur, indicateur_id, principal, for_update=for_update)
    if found is None or found[0].convention_id != convention_id or found[0].action_id is not None:
        raise NotFound("Indicateur introuvable.")
    return found


async def _writable_indicateur_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
) -> tuple[Indicateur, ConventionRef]:
    indicateur, convention = await load_indicateur_convention(
        session, principal, convention_id, indicateur_id, for_update=True
    )
    require_evaluation_writer(principal, convention, "modifier les indicateurs de la convention")
    require_convention_accepts(ctx, principal, convention, Travail.plan)
    return indicateur, convention


async def update_indicateur_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    data: IndicateurConventionPatch,
) -> Indicateur:
    """``axe_id`` moves it to another axe, or (null) to the convention as a whole."""
    indicateur, convention = await _writable_indicateur_convention(
        ctx, session, principal, convention_id, indicateur_id
    )
    preconditions.check(etag_for(indicateur.id, indicateur.version))
    if "axe_id" in data.model_fields_set:
        await _check_axe(session, convention_id, data.axe_id)
    return await _update(session, principal, indicateur, convention, data)


async def put_valeur_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
    periode: str,
    data: ValeurIn,
) -> tuple[ValeurIndicateur, bool]:
    indicateur, convention = await _writable_indicateur_convention(
        ctx, session, principal, convention_id, indicateur_id
    )
    return await _put_valeur(
        session, principal, preconditions, indicateur, convention, periode, data
    )


async def delete_indicateur_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    indicateur_id: uuid.UUID,
) -> None:
    indicateur, _ = await _writable_indicateur_convention(
        ctx, session, principal, convention_id, indicateur_id
    )
    preconditions.check(etag_for(indicateur.id, indicateur.version))
    before = INDICATEUR.snapshot(indicateur)
    await repo.delete_indicateur(session, indicateur)
    await _record(session, principal, indicateur, before, deleted=True)
