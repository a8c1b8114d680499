"""Routes of the caller's e-mail preferences per family of events (preferences.py)."""

from __future__ import annotations

from fastapi import APIRouter

from kernel.database import DbSession
from kernel.idempotency import IdempotentRoute
from services.notifications import preferences
from services.notifications.rights import MyPreferences
from services.notifications.schemas import PreferenceOut, PreferencesIn, PreferencesOut
from services.notifications.service import FAMILY_LABELS

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute, tags=["notifications"])
PATH = "/moi/preferences"


def _out(views: list[preferences.PreferenceView]) -> PreferencesOut:
    return PreferencesOut(
        items=[
            PreferenceOut(
                famille=v.famille,
                libelle=FAMILY_LABELS.get(v.famille, v.famille.value),
                mode=v.mode,
                par_defaut=v.par_defaut,
            )
            for v in views
        ]
    )


@router.get(
    PATH,
    response_model=PreferencesOut,
    summary="Mes préférences d'envoi des e-mails",
    description=(
        "Pour chaque famille d'événements, comment l'appelant en reçoit les e-mails : "
        "immédiat, quotidien (récapitulatif à 7 h, heure de Paris), hebdomadaire (le lundi "
        "à 7 h) ou désactivé, et si c'est le mode par défaut (immédiat pour les suivis, "
        "habilitations et invitations ; quotidien pour les discussions). Les "
        "notifications dans l'application sont toujours enregistrées. Réservé aux "
        "personnes : un client machine reçoit un 403."
    ),
)
async def my_preferences(session: DbSession, principal: MyPreferences) -> PreferencesOut:
    return _out(await preferences.my_preferences(session, principal))


@router.patch(
    PATH,
    response_model=PreferencesOut,
    summary="Changer mes préférences d'envoi des e-mails",
    description=(
        "Change le mode des familles nommées dans `modes` (`null` : revenir au mode par "
        "défaut) ; les autres restent inchangées. Une famille ou un mode inconnu : 422, "
        "rien n'est changé. Les e-mails déjà en attente d'un récapitulatif suivent le "
        "nouveau mode (désactivé : ils ne partent pas). Renvoie toutes les préférences."
    ),
)
async def change_my_preferences(
    body: PreferencesIn, session: DbSession, principal: MyPreferences
) -> PreferencesOut:
    return _out(await preferences.change(session, principal, body.modes))
