"""The right each route of the conventions service requires (see `kernel.rights`).

The services keep the rules on the very convention: its Caf's agents only
(`service.can_write`), the parties of art. 12 (`service.parties`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from kernel.principal import Principal
from kernel.rights import CAF_WRITERS, CAF_WRITERS_AND_REFERENTS, Right, ServiceRight, scope_of
from services.conventions import repository as repo
from services.conventions import service


async def _organisation(
    request: Request, session: AsyncSession, principal: Principal, organisation_id: uuid.UUID
) -> object:
    # The registry is reference data, every principal reads it: only an unknown one hides.
    if await repo.get_organisation(session, organisation_id) is None:
        raise NotFound("Organisation introuvable.")
    return None


CONVENTION = ("convention_id", scope_of(service.load_readable))
_CAF_ONLY = "Seuls les agents de la Caf de la convention peuvent la modifier."

# Whoever reads the convention (its scope: 404 outside it).
ConventionRead = Annotated[Principal, Depends(ServiceRight(Right("ConventionRead"), on=CONVENTION))]
# A new convention: the agents of its Caf.
ConventionCreate = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "ConventionCreate",
                CAF_WRITERS,
                "Seuls les agents de la Caf créent ses conventions.",
            )
        )
    ),
]
# Its text, signatories, Annexe 2, signature, avenants, renewal: the agents of its Caf.
ConventionWrite = Annotated[
    Principal,
    Depends(ServiceRight(Right("ConventionWrite", CAF_WRITERS, _CAF_ONLY), on=CONVENTION)),
]
# Art. 12's acts (mises en demeure, résiliation): a party, the Caf's agents entering
# them for any, a signatory collectivité's referent for its own.
ConventionPartyWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "ConventionPartyWrite",
                CAF_WRITERS_AND_REFERENTS,
                "Seuls les agents de la Caf de la convention, ou le référent d'une collectivité "
                "signataire pour sa collectivité, peuvent agir sur la fin de la convention.",
            ),
            on=CONVENTION,
        )
    ),
]
_DIRECTORY = Right(
    "OrganisationWrite", CAF_WRITERS, "Seuls les agents d'une Caf enrichissent le répertoire."
)
# The registry of organisations: the agents of a Caf, for their own département.
OrganisationCreate = Annotated[Principal, Depends(ServiceRight(_DIRECTORY))]
OrganisationWrite = Annotated[
    Principal, Depends(ServiceRight(_DIRECTORY, on=("organisation_id", _organisation)))
]
