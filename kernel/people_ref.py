"""Who reads a convention, as the gateway's habilitations know it: the contract of its
internal route ``GET /internal/v1/conventions/{id}/personnes`` and the typed client the
services use (mentions in discussions, the recipients of notifications).

The gateway owns persons and grants. A service asks it, with a service token, for the
persons holding a grant active now that reads a convention: Caf grants on its Caf,
collectivité grants on its other signataires, national readers only if asked. One item
per such grant: a person with two grants on the convention appears twice. Answers are
never cached by the client: who may hear of a change is decided when it is sent (a
revoked person hears nothing). One call, bounded by the client's timeout: a gateway
that is down or stalled is a fast 503, never a hang.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import httpx
from pydantic import BaseModel, ConfigDict, Field

from kernel.errors import NotFound
from kernel.internal_token import InternalTokenSigner, read_internal
from kernel.principal import OrganisationKind, Role

GATEWAY_AUDIENCE = "gateway"


class PersonneRef(BaseModel):
    """Une personne habilitée à lire une convention, par l'une de ses habilitations."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(
        description="Identifiant de la personne dans la suite (le `sub` du jeton interne)."
    )
    nom: str | None = Field(description="Nom affiché de la personne, s'il est connu.")
    email: str | None = Field(
        description="Adresse e-mail vérifiée par le fournisseur d'identité ; null sinon."
    )
    organisation_id: uuid.UUID = Field(description="Organisation de l'habilitation.")
    organisation_type: OrganisationKind = Field(description="Type de cette organisation.")
    role: Role = Field(description="Rôle de l'habilitation.")


class PersonneContact(BaseModel):
    """Le nom et l'adresse vérifiée d'une personne, quelles que soient ses habilitations."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(description="Identifiant de la personne dans la suite.")
    nom: str | None = Field(description="Nom affiché de la personne, s'il est connu.")
    email: str | None = Field(
        description="Adresse e-mail vérifiée par le fournisseur d'identité ; null sinon."
    )


class PersonneRefs(BaseModel):
    """Les personnes habilitées à lire une convention."""

    items: list[PersonneRef]


PERSONNES_PATH = "/internal/v1/personnes"


def personnes_path(convention_id: uuid.UUID) -> str:
    return f"/internal/v1/conventions/{convention_id}/personnes"


class PersonnesClient:
    """Reads from the gateway who reads a convention, on behalf of one app."""

    def __init__(self, http: httpx.AsyncClient, signer: InternalTokenSigner, base_url: str) -> None:
        self._http = http
        self._signer = signer
        self._base = base_url.rstrip("/")

    async def of_convention(
        self,
        convention_id: uuid.UUID,
        *,
        organisations: Iterable[uuid.UUID] = (),
        roles: Iterable[Role] = (),
        personnes: Iterable[uuid.UUID] = (),
        national: bool = False,
    ) -> list[PersonneRef]:
        """The persons whose grant active now reads the convention, filtered (each filter
        a set: any of its values). NotFound when the gateway does not know the
        convention; ServiceUnavailable when it does not answer in the client's timeout."""
        params: dict[str, list[str]] = {
            "organisation": [str(o) for o in organisations],
            "role": [r.value for r in roles],
            "personne": [str(p) for p in personnes],
            "national": ["true"] if national else [],
        }
        resp = await self._get(personnes_path(convention_id), params, "Convention introuvable.")
        return PersonneRefs.model_validate_json(resp.content).items

    async def of_organisations(
        self, organisations: Iterable[uuid.UUID], roles: Iterable[Role] = ()
    ) -> list[PersonneRef]:
        """The persons whose grant active now is on one of the organisations (with one
        of the roles, when given); none asked, none given."""
        wanted = [str(o) for o in organisations]
        if not wanted:
            return []
        params = {"organisation": wanted, "role": [r.value for r in roles]}
        resp = await self._get(PERSONNES_PATH, params, "Organisation introuvable.")
        return PersonneRefs.model_validate_json(resp.content).items

    async def contact(self, personne_id: uuid.UUID) -> PersonneContact:
        """A person's name and verified e-mail, whatever their grants (NotFound unknown)."""
        resp = await self._get(f"{PERSONNES_PATH}/{personne_id}", {}, "Personne introuvable.")
        return PersonneContact.model_validate_json(resp.content)

    async def _get(self, path: str, params: dict[str, list[str]], not_found: str) -> httpx.Response:
        resp = await read_internal(
            self._http,
            self._base + path,
            self._signer,
            GATEWAY_AUDIENCE,
            params,
            service="Passerelle",
            consequence="les personnes habilitées ne peuvent pas être lues.",
            accept=(200, 404),
        )
        if resp.status_code == 404:
            raise NotFound(not_found)
        return resp
