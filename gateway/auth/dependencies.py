"""FastAPI dependencies for the routes the gateway answers itself.

The authentication middleware (gateway.auth.middleware) verifies the bearer token of
every /api/ request and stores the `CallerIdentity` in the ASGI scope; these
dependencies read it (and resolve the grants once per request).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.identity import CallerIdentity, GrantResolver
from kernel.errors import Unauthorized
from kernel.principal import Principal

IDENTITY_SCOPE_KEY = "coop.identity"
PRINCIPAL_SCOPE_KEY = "coop.principal"


async def current_identity(request: Request) -> CallerIdentity:
    identity = request.scope.get(IDENTITY_SCOPE_KEY)
    if not isinstance(identity, CallerIdentity):
        raise Unauthorized("Jeton d'accès manquant.")
    return identity


async def current_principal(
    request: Request, identity: Annotated[CallerIdentity, Depends(current_identity)]
) -> Principal:
    cached = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(cached, Principal):
        return cached
    resolver: GrantResolver = request.app.state.grant_resolver
    principal = await resolver.principal_for(identity)
    request.scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


CurrentIdentity = Annotated[CallerIdentity, Depends(current_identity)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
