"""Per request: who is calling (verified token), within budget, with which grants.

Used by the proxy lane and, through gateway.auth.dependencies, by the gateway's own
routes. Results are kept in the ASGI scope so a request is authenticated once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import Scope

from gateway.auth.tokens import AccessTokenVerifier, bearer_token
from gateway.identity import CallerIdentity, GrantResolver
from gateway.limits import TokenBuckets, too_many_requests
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Principal

IDENTITY_SCOPE_KEY = "coop.identity"
PRINCIPAL_SCOPE_KEY = "coop.principal"


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


class Gatekeeper:
    def __init__(
        self,
        verifier: AccessTokenVerifier,
        resolver: GrantResolver,
        buckets: TokenBuckets | None = None,
    ) -> None:
        self.verifier = verifier
        self.resolver = resolver
        self.buckets = buckets

    async def identity(self, scope: Scope) -> CallerIdentity:
        found = scope.get(IDENTITY_SCOPE_KEY)
        if isinstance(found, CallerIdentity):
            return found
        identity = await self.verifier.verify(bearer_token(_authorization(scope)))
        if self.buckets is not None:
            wait = self.buckets.take(f"{identity.kind.value}:{identity.issuer}:{identity.subject}")
            if wait:
                raise too_many_requests(wait, self.buckets)
        scope[IDENTITY_SCOPE_KEY] = identity
        # Read by the access-log middleware: ids only, never the token.
        scope.setdefault("state", {})["principal_id"] = identity.subject
        return identity

    async def principal(self, scope: Scope) -> Principal:
        found = scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(found, Principal):
            return found
        principal = await self.resolver.principal_for(await self.identity(scope))
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return principal


class InternalTokens:
    """Mints the internal token for (principal, service), reusing it for half its life.

    Signing is the costly part of a proxied request; a principal's grants are part of
    the cache key, so a changed grant gets a new token on the very next request.

    The resolver hands out the same `Principal` object while it caches a caller's
    grants, so a token is first looked up by that object's identity: hashing and
    comparing a pydantic model cost more than the rest of the lookup. An equal
    principal in another object (reloaded grants, no resolver cache) still finds its
    token by equality.
    """

    def __init__(
        self, signer: InternalTokenSigner, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = signer
        self._reuse = ttl_seconds // 2 if ttl_seconds >= 4 else 0
        self._clock = clock
        self._cache: dict[tuple[str, Principal], tuple[str, float]] = {}
        # (audience, id) -> (the principal itself, token, reuse until): the principal is
        # held, so its id cannot be another object's while the entry lives.
        self._by_identity: dict[tuple[str, int], tuple[Principal, str, float]] = {}

    def token_for(self, principal: Principal, audience: str) -> str:
        if not self._reuse:
            return self._signer.mint(principal, audience)
        now = self._clock()
        seen = self._by_identity.get((audience, id(principal)))
        if seen is not None and seen[0] is principal and seen[2] > now:
            return seen[1]
        key = (audience, principal)
        hit = self._cache.get(key)
        if hit is None or hit[1] <= now:
            hit = (self._signer.mint(principal, audience), now + self._reuse)
            if len(self._cache) >= 10_000:
                self._cache.clear()
            self._cache[key] = hit
        if len(self._by_identity) >= 10_000:
            self._by_identity.clear()
        self._by_identity[(audience, id(principal))] = (principal, *hit)
        return hit[0]
