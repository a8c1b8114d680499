"""What the conventions service learns of a convention's bilans from the actions service.

The actions service owns the bilans. Renewing a convention requires its bilan final to
be adopted (*l'évaluation est un préalable à tout renouvellement*, lettre circulaire
2013-205): the conventions service asks the actions service's internal route
``GET /internal/v1/conventions/{id}/bilans`` with a service token when a renewal is
requested. One call, bounded by the client's timeout: an actions service that is down
or stalled answers 503 fast, never a hang.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from pydantic import BaseModel, ConfigDict

from kernel.internal_token import InternalTokenSigner, read_internal

ACTIONS_AUDIENCE = "actions"
# The labels of the actions service's bilans (services.actions.rules) this contract uses.
TYPE_BILAN_FINAL = "bilan final"
ETAT_ADOPTE = "adopté"


class BilanRef(BaseModel):
    """Ce que les autres services de la suite savent d'un bilan."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    type: str
    etat: str
    date_adoption: dt.date | None


class BilanRefs(BaseModel):
    items: list[BilanRef]


def bilans_path(convention_id: uuid.UUID) -> str:
    return f"/internal/v1/conventions/{convention_id}/bilans"


class BilanRefClient:
    """Reads a convention's bilans from the actions service on behalf of one app."""

    def __init__(self, http: httpx.AsyncClient, signer: InternalTokenSigner, base_url: str) -> None:
        self._http = http
        self._signer = signer
        self._base = base_url.rstrip("/")

    async def bilans_of(self, convention_id: uuid.UUID) -> list[BilanRef]:
        url = self._base + bilans_path(convention_id)
        resp = await read_internal(
            self._http,
            url,
            self._signer,
            ACTIONS_AUDIENCE,
            service="Service des actions",
            consequence="le bilan final ne peut pas être vérifié.",
        )
        return BilanRefs.model_validate_json(resp.content).items
