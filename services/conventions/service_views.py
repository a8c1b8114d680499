"""What a caller sees of a convention: its derived state, the transitions offered to it,
its API representations, and the snapshot of its text kept for each version."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention, etat_convention
from kernel.errors import NotFound
from kernel.etag import Preconditions, etag_for
from kernel.principal import Principal, Role
from services.conventions import repository as repo
from services.conventions.models import (
    Convention,
    Equipement,
    Organisation,
    Signataire,
    TypeOrganisation,
)
from services.conventions.schemas import (
    ConventionOut,
    Copil,
    SignataireOut,
)
from services.conventions.service import (
    SigRows,
    can_write,
    parties,
    signature_problems,
    socle_manquant,
)


class Transition:
    """Names of the transitions listed in `transitions_disponibles`."""

    modifier = "modifier"
    gerer_signataires = "gérer les signataires"
    gerer_equipements = "gérer les équipements"
    signer = "signer"
    avenant = "avenant"
    mettre_en_demeure = "mettre en demeure"
    resilier = "résilier"
    renouveler = "renouveler"


def etat(convention: Convention, today: dt.date) -> str:
    return etat_convention(
        StatutConvention(convention.statut),
        convention.date_debut,
        convention.date_fin,
        convention.date_effet_resiliation,
        today,
    ).value


def transitions(
    principal: Principal,
    convention: Convention,
    signataires: SigRows,
    today: dt.date,
    has_successor: bool,
) -> list[str]:
    """What the caller may do right now on this convention. A signatory collectivité's
    referent may put a party in default and résilier for its own collectivité; the
    renewal's bilan final is checked when it is asked for (service_lifecycle)."""
    statut = convention.statut
    if not can_write(principal, convention):
        running = statut == StatutConvention.signee and today <= convention.date_fin
        if running and parties(principal, convention, (s.organisation_id for s, _ in signataires)):
            return [Transition.mettre_en_demeure, Transition.resilier]
        return []
    if statut == StatutConvention.en_preparation:
        out = [Transition.modifier, Transition.gerer_signataires, Transition.gerer_equipements]
        if not signature_problems(convention, signataires, today):
            out.append(Transition.signer)
        return out
    if statut == StatutConvention.signee:
        out = []
        if today <= convention.date_fin:
            out += [Transition.avenant, Transition.mettre_en_demeure, Transition.resilier]
        if not has_successor:
            out.append(Transition.renouveler)
        return out
    return []


def signataire_fields(sig: Signataire, org: Organisation) -> dict[str, Any]:
    """A SignataireOut as a plain dict (of ORM objects, or rows with their attributes)."""
    return {
        "organisation_id": org.id,
        "type": TypeOrganisation(org.type),
        "nom": org.nom,
        "code_insee": org.code_insee,
        "siren": org.siren,
        "population": org.population,
        "representant": sig.representant,
        "deliberation_reference": sig.deliberation_reference,
        "deliberation_date": sig.deliberation_date,
        "date_signature": sig.date_signature,
        "avenant_numero": sig.avenant_numero,
    }


def signataire_out(sig: Signataire, org: Organisation) -> SignataireOut:
    return SignataireOut.model_validate(signataire_fields(sig, org))


def copil_fields(convention: Convention) -> dict[str, Any]:
    return {
        "presidence": convention.copil_presidence,
        "secretariat": convention.copil_secretariat,
        "reunions_par_an": convention.copil_reunions_par_an,
        "commissions": list(convention.copil_commissions or []),
    }


def copil_of(convention: Convention) -> Copil:
    return Copil.model_validate(copil_fields(convention))


def resiliation_fields(convention: Convention) -> dict[str, Any] | None:
    if convention.resiliation_mode is None:
        return None
    assert convention.resiliation_date_notification is not None
    assert convention.date_effet_resiliation is not None
    return {
        "mode": convention.resiliation_mode,
        "date_notification": convention.resiliation_date_notification,
        "motif": convention.resiliation_motif,
        "date_effet": convention.date_effet_resiliation,
        "initiateur_id": convention.resiliation_initiateur_id,
        "mise_en_demeure_id": convention.resiliation_mise_en_demeure_id,
    }


def avertissements(convention: Convention) -> list[str]:
    """What the text lacks against the 2026 model convention: a CTG signed before it may
    be recorded without the socle minimum of thématiques, but it shows."""
    missing = socle_manquant(convention.thematiques)
    if not missing:
        return []
    return [
        "Socle minimum de thématiques du modèle de CTG 2026 incomplet (petite enfance, "
        "enfance, jeunesse, parentalité) : " + ", ".join(missing) + " manquante(s)."
    ]


def convention_fields(
    principal: Principal,
    convention: Convention,
    signataires: SigRows,
    successor: uuid.UUID | None,
    today: dt.date,
) -> dict[str, Any]:
    """A ConventionOut as a plain dict (of ORM objects, or rows with their attributes)."""
    return {
        "id": convention.id,
        "caf_id": convention.caf_id,
        "echelon": convention.echelon,
        "titre": convention.titre,
        "date_debut": convention.date_debut,
        "date_fin": convention.date_fin,
        "thematiques": convention.thematiques,
        "objectifs_partages": convention.objectifs_partages,
        "copil": copil_fields(convention),
        "statut": convention.statut,
        "etat": etat(convention, today),
        "date_signature": convention.date_signature,
        "ctg_existante": convention.ctg_existante,
        "avertissements": avertissements(convention),
        "resiliation": resiliation_fields(convention),
        "precedente_id": convention.precedente_id,
        "suivante_id": successor,
        "numero_version": convention.numero_version,
        "signataires": [signataire_fields(s, o) for s, o in signataires],
        "transitions_disponibles": transitions(
            principal, convention, signataires, today, successor is not None
        ),
        "cree_le": convention.cree_le,
        "modifie_le": convention.modifie_le,
    }


def convention_out(
    principal: Principal,
    convention: Convention,
    signataires: SigRows,
    successor: uuid.UUID | None,
    today: dt.date,
) -> ConventionOut:
    return ConventionOut.model_validate(
        convention_fields(principal, convention, signataires, successor, today)
    )


async def representation(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    today: dt.date,
    sigs: SigRows | None = None,
) -> ConventionOut:
    """`sigs`: the signatories when the caller has just read them (not read again)."""
    if sigs is None:
        sigs = await repo.signataires_of_convention(session, convention.id)
    successor = (await repo.successors(session, [convention.id])).get(convention.id)
    return convention_out(principal, convention, sigs, successor, today)


async def summaries(
    session: AsyncSession,
    principal: Principal,
    conventions: Sequence[tuple[Any, bool]],
    today: dt.date,
) -> list[dict[str, Any]]:
    """ConventionSummary items as plain dicts, of a page of conventions (each with
    whether it has been renewed)."""
    # Only a draft the caller may sign needs its signatories (to offer `signer`), and a
    # signed one when the caller is a collectivité's referent (to offer its acts).
    referent = bool(principal.collectivite_ids([Role.referent]))
    needed = [
        c.id
        for c, _ in conventions
        if (c.statut == StatutConvention.en_preparation and can_write(principal, c))
        or (referent and c.statut == StatutConvention.signee and not can_write(principal, c))
    ]
    sigs = await repo.signataires_of(session, needed) if needed else {}
    return [
        {
            "id": c.id,
            "caf_id": c.caf_id,
            "echelon": c.echelon,
            "titre": c.titre,
            "date_debut": c.date_debut,
            "date_fin": c.date_fin,
            "statut": c.statut,
            "etat": etat(c, today),
            "transitions_disponibles": transitions(
                principal, c, sigs.get(c.id, []), today, renewed
            ),
        }
        for c, renewed in conventions
    ]


async def readable_representation(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    today: dt.date,
    preconditions: Preconditions,
) -> tuple[Any, dict[str, Any] | None]:
    """A convention as the caller sees it (404 outside its scope), in one statement: a
    read-only row with its attributes, and its ConventionOut as a plain dict; None
    instead when the caller's If-None-Match names its ETag and it reads as it did then
    (a 304)."""
    found = await repo.get_convention_detail(session, convention_id, principal)
    if found is None:
        raise NotFound("Convention introuvable.")
    convention, sigs, successor = found
    out = convention_fields(principal, convention, sigs, successor, today)
    if preconditions.not_modified(etag_for(convention.id, convention.version)):
        # The state and transitions derive from dates (signée, active, échue; résiliée
        # from the date of effect): the same version may read differently today. They
        # only move forward, so the same reading at the last change and today means the
        # client's copy, taken in between, is still right.
        then = convention.modifie_le.date()
        if convention_fields(principal, convention, sigs, successor, then) == out:
            return convention, None
    return convention, out


def equipement_fields(e: Equipement) -> dict[str, Any]:
    """An Annexe 2 entry as versions and avenants keep it (JSON)."""
    return {
        "id": str(e.id),
        "organisation_id": str(e.organisation_id),
        "type": e.type,
        "nom": e.nom,
        "adresse": e.adresse,
    }


async def snapshot(
    session: AsyncSession, convention: Convention, sigs: SigRows | None = None
) -> dict[str, Any]:
    """The text of the convention as it stands (for its version history); `sigs` as in
    `representation`."""
    if sigs is None:
        sigs = await repo.signataires_of_convention(session, convention.id)
    equipements = await repo.equipements_of(session, convention.id)
    return {
        "titre": convention.titre,
        "echelon": convention.echelon,
        "date_debut": convention.date_debut.isoformat(),
        "date_fin": convention.date_fin.isoformat(),
        "thematiques": list(convention.thematiques),
        "objectifs_partages": list(convention.objectifs_partages),
        "copil": copil_of(convention).model_dump(mode="json"),
        "signataires": [signataire_out(s, o).model_dump(mode="json") for s, o in sigs],
        "equipements": [equipement_fields(e) for e in equipements],
    }
