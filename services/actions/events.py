"""The actions service's domain events (kernel.outbox), followed by the notifications
service: a suivi's workflow steps, the discussions' comments and mentions. Each payload
names the objects (titles, ids, the period) and the organisations or persons concerned;
who hears of it is resolved when it is sent."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.outbox import Outbox
from kernel.principal import Principal
from services.actions.models import Action, Commentaire, Suivi, evenements
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
