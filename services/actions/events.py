"""The actions service's domain events (kernel.outbox), followed by the notifications
service: a suivi's workflow steps, the discussions' comments and mentions. Each payload
names the objects (titles, ids, the period) and the organisations or persons concerned;
who hears of it is resolved when it is sent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.outbox import Outbox
from kernel.principal import Principal
from services.actions.models import Action, Bilan, Commentaire, Suivi, evenements
from services.actions.rules import EtatSuivi

OUTBOX = Outbox(evenements, "coop.actions.evenements")

SUIVI_SOUMIS = "suivi.soumis"
SUIVI_A_COMPLETER = "suivi.a_completer"
SUIVI_VALIDE = "suivi.valide"

_BY_STATE = {
    EtatSuivi.soumis: SUIVI_SOUMIS,
    EtatSuivi.a_completer: SUIVI_A_COMPLETER,
    EtatSuivi.valide: SUIVI_VALIDE,
}


async def suivi_step(
    session: AsyncSession,
    principal: Principal,
    convention: ConventionRef,
    action: Action,
    suivi: Suivi,
    commentaire: str | None,
) -> None:
    """A suivi reached `soumis`, `à compléter` or `validé` (the transaction's last write)."""
    donnees: dict[str, JsonValue] = {
        "caf_id": str(convention.caf_id),
        "convention_titre": convention.titre,
        "action_id": str(action.id),
        "action_titre": action.titre,
        "porteur_ids": [str(p) for p in action.porteur_ids],
        "suivi_id": str(suivi.id),
        "periode": suivi.periode,
        "auteur_nom": principal.name,
    }
    if commentaire is not None:
        donnees["commentaire"] = commentaire
    await OUTBOX.record(
        session,
        _BY_STATE[EtatSuivi(suivi.etat)],
        donnees,
        convention_id=convention.id,
        auteur_id=principal.subject,
    )


# Discussions: a comment posted (its thread's other participants hear of it), persons
# mentioned (posted or added by a correction: they hear of it). Never the text: it may
# be deleted within the events' retention, and a message links to it.
COMMENTAIRE_PUBLIE = "commentaire.publie"
COMMENTAIRE_MENTION = "commentaire.mention"


async def commentaire(
    session: AsyncSession,
    principal: Principal,
    convention: ConventionRef,
    action: Action,
    c: Commentaire,
    *,
    participants: Sequence[str] | None,
    mentionnes: Sequence[str],
) -> None:
    """`participants` (the thread's other authors) when the comment is new; `mentionnes`
    the persons it mentions that it did not before (the transaction's last writes)."""
    donnees: dict[str, JsonValue] = {
        "caf_id": str(convention.caf_id),
        "convention_titre": convention.titre,
        "action_id": str(action.id),
        "action_titre": action.titre,
        "suivi_id": None if c.suivi_id is None else str(c.suivi_id),
        "periode": c.periode,
        "commentaire_id": str(c.id),
        "auteur_nom": principal.name,
    }
    told: list[tuple[str, dict[str, JsonValue]]] = []
    if participants is not None:
        told.append((COMMENTAIRE_PUBLIE, {"participant_ids": list(participants)}))
    if mentionnes:
        told.append((COMMENTAIRE_MENTION, {"personne_ids": list(mentionnes)}))
    for type_, whom in told:
        await OUTBOX.record(
            session,
            type_,
            {**donnees, **whom},
            convention_id=convention.id,
            auteur_id=principal.subject,
        )


# Bilans: adopted by the COPIL (the convention's people hear of it); the petite-enfance
# part's agreement asked of the collectivités concerned (service_cdsf.py).
BILAN_ADOPTE = "bilan.adopte"


def bilan_payload(convention: ConventionRef, bilan: Bilan) -> dict[str, JsonValue]:
    return {
        "caf_id": str(convention.caf_id),
        "convention_titre": convention.titre,
        "bilan_id": str(bilan.id),
        "bilan_type": bilan.type,
        "periode_debut": bilan.periode_debut.isoformat(),
        "periode_fin": bilan.periode_fin.isoformat(),
    }


async def bilan_adopte(
    session: AsyncSession, principal: Principal, convention: ConventionRef, bilan: Bilan
) -> None:
    """The COPIL's adoption, entered (the transaction's last write)."""
    assert bilan.date_adoption is not None
    await OUTBOX.record(
        session,
        BILAN_ADOPTE,
        {
            **bilan_payload(convention, bilan),
            "date_adoption": bilan.date_adoption.isoformat(),
            "auteur_nom": principal.name,
        },
        convention_id=convention.id,
        auteur_id=principal.subject,
    )


BILAN_ACCORD_CDSF_DEMANDE = "bilan.accord_cdsf_demande"
BILAN_ACCORD_CDSF_RAPPEL = "bilan.accord_cdsf_rappel"


async def accord_cdsf(
    session: AsyncSession,
    principal: Principal | None,
    convention: ConventionRef,
    bilan: Bilan,
    collectivites: Sequence[uuid.UUID],
    semaine: int,
) -> None:
    """The collectivités still to agree, asked (week 0, by a Caf agent) or reminded (the
    job, no author) (the transaction's last write)."""
    await OUTBOX.record(
        session,
        BILAN_ACCORD_CDSF_DEMANDE if semaine == 0 else BILAN_ACCORD_CDSF_RAPPEL,
        {
            **bilan_payload(convention, bilan),
            "collectivite_ids": [str(c) for c in collectivites],
            "semaine": semaine,
        },
        convention_id=convention.id,
        auteur_id=None if principal is None else principal.subject,
    )
