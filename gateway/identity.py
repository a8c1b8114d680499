"""The contract between authentication and habilitations.

Authentication (gateway.auth) turns a verified access token into a `CallerIdentity`;
a `GrantResolver` (gateway.habilitations.resolver.DbGrantResolver) turns that identity
into the `Principal` (grants) carried by the internal token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kernel.principal import Principal, PrincipalKind


@dataclass(frozen=True)
class CallerIdentity:
    issuer: str
    # OIDC `sub` for persons; client_id for machine clients.
    subject: str
    kind: PrincipalKind
    # Only used to match invitations, never as an identifier.
    email: str | None = None
    # The display name the token gives (histories name authors by it).
    name: str | None = None
    # The OIDC client the caller came through (`client_id`, else `azp`): the app or
    # partner system, recorded in histories. A machine client's is its own id.
    client: str | None = None
    # The token's `email_verified` claim: only a verified address is ever written to.
    email_verified: bool = False


class GrantResolver(Protocol):
    async def principal_for(self, identity: CallerIdentity) -> Principal: ...
