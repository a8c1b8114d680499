"""The right each route of the habilitations requires (see `kernel.rights`): the
gateway's caller is its `Authority` (the principal and what it may manage).

The services keep the rules on the very grant, invitation or request: who may grant
which role where (`service.Authority.require_manage`), nobody on their own grant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.habilitations import service, service_requests
from gateway.habilitations.dependencies import Auth
from gateway.habilitations.service import Authority
from kernel.database import DbSession
from kernel.principal import Role
from kernel.rights import CAF_WRITERS_AND_REFERENTS, Right, RightCheck, scope_of


class GatewayRight(RightCheck[Authority]):
    async def __call__(self, request: Request, auth: Auth, session: DbSession) -> Authority:
        self.require(request, session, auth, auth.principal)
        return auth


# Managing habilitations (grant, renew, suspend, revoke, invite, decide a request): the
# Caf's agents (collectivité roles) and administrateurs (Caf roles), a collectivité's
# referent (its lecteurs and contributeurs).
_MANAGE = Right(
    "HabilitationManage",
    CAF_WRITERS_AND_REFERENTS,
    "Seuls les agents et administrateurs d'une Caf et les référents d'une collectivité "
    "gèrent des habilitations.",
)

# Any authenticated caller: what it is and holds, the lists filtered to what it sees,
# its own access requests and invitations.
Everyone = Annotated[Authority, Depends(GatewayRight(Right("Everyone")))]
# A grant one sees: one's own, those on an organisation one sees (404 otherwise).
HabilitationRead = Annotated[
    Authority,
    Depends(
        GatewayRight(Right("HabilitationRead"), on=("grant_id", scope_of(service.visible_grant)))
    ),
]
# A new grant or invitation: the organisation is named in the body, the service finds
# it and refuses (404 unknown to the caller, 403 not its to manage).
HabilitationGrant = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right("HabilitationGrant", _MANAGE.roles, _MANAGE.refusal), object_in_body=True
        )
    ),
]
HabilitationManage = Annotated[
    Authority, Depends(GatewayRight(_MANAGE, on=("grant_id", scope_of(service.known_grant))))
]
# An invitation the caller's list shows (404 otherwise).
InvitationRead = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right("InvitationRead"),
            on=("invitation_id", scope_of(service_requests.visible_invitation)),
        )
    ),
]
InvitationManage = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right("InvitationManage", _MANAGE.roles, _MANAGE.refusal),
            on=("invitation_id", scope_of(service_requests.known_invitation)),
        )
    ),
]
DemandeRead = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right("DemandeRead"), on=("demande_id", scope_of(service_requests.visible_demande))
        )
    ),
]
DemandeDecide = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right("DemandeDecide", _MANAGE.roles, _MANAGE.refusal),
            on=("demande_id", scope_of(service_requests.known_demande)),
        )
    ),
]
# A machine client: a Caf administrateur, for its Caf or a collectivité of its
# conventions (named in the body: the service finds it and refuses).
ClientRegister = Annotated[
    Authority,
    Depends(
        GatewayRight(
            Right(
                "ClientRegister",
                frozenset({Role.administrateur}),
                "Seul un administrateur de la Caf enregistre des clients machine.",
            ),
            object_in_body=True,
        )
    ),
]
