"""What a caller sees of a convention: its derived state, the transitions offered to it,
its API representations, and the snapshot of its text kept for each version."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention, etat_convention
from kernel.errors import NotFound
from kernel.etag import Preconditions, etag_for
from kernel.json_response import JsonObject, ResponseFields
from kernel.principal import Principal, Role
from kernel.reads import row_from
from services.conventions import repository as repo
from services.conventions.models import Convention, CopilRow, Equipement, ResiliationRow
from services.conventions.repository import ConventionListed, ConventionRow, SignataireRow
from services.conventions.schemas import (
    ConventionOut,
    ConventionSummary,
    Copil,
    EquipementOut,
    Resiliation,
    SignataireOut,
    TexteConvention,
)
from services.conventions.service import (
    ConventionFacts,
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


def etat(convention: ConventionFacts, today: dt.date) -> str:
    return etat_convention(
        StatutConvention(convention.statut),
        convention.date_debut,
        convention.date_fin,
        convention.date_effet_resiliation,
        today,
    ).value


def transitions(
    principal: Principal,
    convention: ConventionFacts,
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
        if running and parties(principal, convention, (s.organisation_id for s in signataires)):
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


SIGNATAIRE = ResponseFields(SignataireOut, SignataireRow)


COPIL = ResponseFields(Copil, CopilRow)


def copil_of(convention: Convention) -> Copil:
    """Annexe 4's COPIL of a convention, as the API shows it."""
    return Copil.model_validate(COPIL(convention.copil))


RESILIATION = ResponseFields(Resiliation, ResiliationRow, derived=("initiateur_nom",))


def resiliation_json(convention: ConventionRow, signataires: SigRows) -> JsonObject | None:
    """Art. 12's résiliation as the API nests it, if any; the initiating party named
    from the convention's Caf or signatories already read (no extra statement)."""
    resiliation = convention.resiliation
    if resiliation is None:
        return None
    noms = {s.organisation_id: s.nom for s in signataires}
    noms[convention.caf_id] = convention.caf_nom
    initiateur = resiliation.initiateur_id
    return RESILIATION(
        resiliation, initiateur_nom=None if initiateur is None else noms.get(initiateur)
    )


def avertissements(convention: ConventionFacts) -> list[str]:
    """What the text lacks against the 2026 model convention: a CTG signed before it may
    be recorded without the socle minimum of thématiques, but it shows."""
    missing = socle_manquant(convention.thematiques)
    if not missing:
        return []
    return [
        "Socle minimum de thématiques du modèle de CTG 2026 incomplet (petite enfance, "
        "enfance, jeunesse, parentalité) : " + ", ".join(missing) + " manquante(s)."
    ]


CONVENTION = ResponseFields(
    ConventionOut,
    ConventionRow,
    derived=("etat", "avertissements", "resiliation", "signataires", "transitions_disponibles"),
)


def convention_json(
    principal: Principal, convention: ConventionRow, signataires: SigRows, today: dt.date
) -> JsonObject:
    """A ConventionOut as the caller sees it today: the row's fields, and what derives
    from them."""
    return CONVENTION(
        convention,
        etat=etat(convention, today),
        avertissements=avertissements(convention),
        resiliation=resiliation_json(convention, signataires),
        signataires=[SIGNATAIRE(s) for s in signataires],
        transitions_disponibles=transitions(
            principal, convention, signataires, today, convention.suivante_id is not None
        ),
    )


async def representation(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    today: dt.date,
    sigs: SigRows | None = None,
) -> ConventionOut:
    """A write's answer (`sigs`: the signatories when the caller has just read them, not
    read again): the same row type and view as a read's."""
    if sigs is None:
        sigs = await repo.signataires_of_convention(session, convention.id)
    successor = (await repo.successors(session, [convention.id])).get(convention.id)
    caf_nom = await repo.organisation_name(session, convention.caf_id)
    row = row_from(ConventionRow, convention, suivante_id=successor, caf_nom=caf_nom)
    return ConventionOut.model_validate(convention_json(principal, row, sigs, today))


SUMMARY = ResponseFields(
    ConventionSummary, ConventionListed, derived=("etat", "transitions_disponibles")
)


async def summaries(
    session: AsyncSession,
    principal: Principal,
    conventions: Sequence[ConventionListed],
    today: dt.date,
) -> list[JsonObject]:
    """The ConventionSummary items of a page of conventions."""
    # Only a draft the caller may sign needs its signatories (to offer `signer`), and a
    # signed one when the caller is a collectivité's referent (to offer its acts).
    referent = bool(principal.collectivite_ids([Role.referent]))
    needed = [
        c.id
        for c in conventions
        if (c.statut == StatutConvention.en_preparation and can_write(principal, c))
        or (referent and c.statut == StatutConvention.signee and not can_write(principal, c))
    ]
    sigs = await repo.signataires_of(session, needed) if needed else {}
    return [
        SUMMARY(
            c,
            etat=etat(c, today),
            transitions_disponibles=transitions(
                principal, c, sigs.get(c.id, []), today, c.renouvelee
            ),
        )
        for c in conventions
    ]


async def readable_representation(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    today: dt.date,
    preconditions: Preconditions,
) -> tuple[ConventionRow, JsonObject | None]:
    """A convention as the caller sees it (404 outside its scope), in one statement: its
    row, and its ConventionOut; None instead when the caller's If-None-Match names its
    ETag and it reads as it did then (a 304)."""
    found = await repo.get_convention_detail(session, convention_id, principal)
    if found is None:
        raise NotFound("Convention introuvable.")
    convention, sigs = found
    out = convention_json(principal, convention, sigs, today)
    if preconditions.not_modified(etag_for(convention.id, convention.version)):
        # The state and transitions derive from dates (signée, active, échue; résiliée
        # from the date of effect): the same version may read differently today. They
        # only move forward, so the same reading at the last change and today means the
        # client's copy, taken in between, is still right.
        then = convention.modifie_le.date()
        if convention_json(principal, convention, sigs, then) == out:
            return convention, None
    return convention, out


def equipement_json(equipement: Equipement) -> JsonObject:
    """An Annexe 2 entry as versions and avenants keep it (JSON): as the API shows it."""
    return EquipementOut.model_validate(equipement, from_attributes=True).model_dump(mode="json")


async def snapshot(
    session: AsyncSession, convention: Convention, sigs: SigRows | None = None
) -> JsonObject:
    """The text of the convention as it stands (for its version history); `sigs` as in
    `representation`."""
    if sigs is None:
        sigs = await repo.signataires_of_convention(session, convention.id)
    equipements = await repo.equipements_of(session, convention.id)
    text = TexteConvention(
        titre=convention.titre,
        echelon=convention.echelon,
        date_debut=convention.date_debut,
        date_fin=convention.date_fin,
        thematiques=convention.thematiques,
        objectifs_partages=convention.objectifs_partages,
        copil=copil_of(convention),
        signataires=[SignataireOut.model_validate(SIGNATAIRE(s)) for s in sigs],
        equipements=[EquipementOut.model_validate(e, from_attributes=True) for e in equipements],
    )
    return text.model_dump(mode="json")
