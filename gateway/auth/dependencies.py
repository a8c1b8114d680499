"""FastAPI dependencies for the routes the gateway answers itself.

`current_identity` verifies the bearer access token (401 otherwise) and applies the
per-principal rate limit; `current_principal` adds the caller's grants, resolved by
the app's `GrantResolver`. Both are computed once per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth.gatekeeper import IDENTITY_SCOPE_KEY, PRINCIPAL_SCOPE_KEY, Gatekeeper
from gateway.identity import CallerIdentity
from kernel.openapi import declare
from kernel.principal import Principal

__all__ = [
    "IDENTITY_SCOPE_KEY",
    "PRINCIPAL_SCOPE_KEY",
    "CurrentIdentity",
    "CurrentPrincipal",
    "current_identity",
    "current_principal",
]


async def current_identity(request: Request) -> CallerIdentity:
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    return await gatekeeper.identity(request.scope)


async def current_principal(
    request: Request, identity: Annotated[CallerIdentity, Depends(current_identity)]
) -> Principal:
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    return await gatekeeper.principal(request.scope)


# No valid token (401), over the caller's budget (429), no identity provider to check
# the token with (503).
declare(current_identity, 401, 429, 503)

CurrentIdentity = Annotated[CallerIdentity, Depends(current_identity)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
