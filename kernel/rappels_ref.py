"""What is due for the campaigns' reminders on a given day: the contract of the actions
service's internal route ``GET /internal/v1/rappels?date=&cursor=&limit=`` and the typed
client the notifications service reads it with.

The actions service owns actions, periods, suivis and due dates: it says, per convention
and campaign, which step is due on that day (`ouverture`, `j15`, `j7`, `retard-<n>`,
services.actions.rules.etape_rappel) and which actions are still to fill, with their
porteurs. The notifications service owns people and mail: it resolves who hears of it
from the gateway's grants and records each message once. One page per call (keyset on
campaign and convention), bounded by the client's timeout: a stalled actions service is a
fast 503 for the job, which the next tick runs again.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from pydantic import BaseModel, ConfigDict, Field

from kernel.internal_token import InternalTokenSigner, read_internal

ACTIONS_AUDIENCE = "actions"
RAPPELS_PATH = "/internal/v1/rappels"
# Conventions examined per page at most (a page holds their actions to fill).
MAX_CONVENTIONS_PAR_PAGE = 500


class ActionARenseigner(BaseModel):
    """Une action dont le suivi de la campagne reste à renseigner."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(description="Identifiant de l'action.")
    titre: str = Field(description="Intitulé de l'action.")
    porteur_ids: list[uuid.UUID] = Field(description="Collectivités qui portent l'action.")


class RappelConvention(BaseModel):
    """L'étape de rappel due ce jour pour la campagne d'une convention, et ses actions
    encore à renseigner."""

    model_config = ConfigDict(frozen=True)

    periode: str = Field(description="Trimestre de la campagne (AAAA-Tn).")
    etape: str = Field(description="Étape due : ouverture, j15, j7 ou retard-<n>.")
    date_limite: dt.date = Field(description="Date limite de la campagne pour la convention.")
    convention_id: uuid.UUID = Field(description="Identifiant de la convention.")
    convention_titre: str = Field(description="Intitulé de la convention.")
    caf_id: uuid.UUID = Field(description="Caf de la convention.")
    signataire_ids: list[uuid.UUID] = Field(description="Organisations signataires.")
    actions: list[ActionARenseigner] = Field(description="Actions encore à renseigner.")


class RappelsPage(BaseModel):
    """Une page des rappels dus ce jour."""

    items: list[RappelConvention]
    next_cursor: str | None = Field(description="Curseur de la page suivante ; null à la fin.")


class RappelsClient:
    """Reads from the actions service what the reminders of a day are about."""

    def __init__(self, http: httpx.AsyncClient, signer: InternalTokenSigner, base_url: str) -> None:
        self._http = http
        self._signer = signer
        self._base = base_url.rstrip("/")

    async def page(self, day: dt.date, cursor: str | None, limit: int) -> RappelsPage:
        params: dict[str, str | int] = {"date": day.isoformat(), "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        resp = await read_internal(
            self._http,
            self._base + RAPPELS_PATH,
            self._signer,
            ACTIONS_AUDIENCE,
            params,
            service="Service des actions",
            consequence="les rappels de campagne attendront.",
        )
        return RappelsPage.model_validate_json(resp.content)
