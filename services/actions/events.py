"""The actions service's domain events (kernel.outbox), followed by the notifications
service: a suivi's workflow steps. Each payload names the objects (titles, ids, the
period) and the organisations concerned; who hears of it is resolved when it is sent."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.outbox import Outbox
from kernel.principal import Principal
from services.actions.models import Action, Suivi, evenements
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
