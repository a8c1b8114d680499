"""Internal identity tokens between the apps of the suite.

The gateway (and, for internal endpoints, another service) signs a short-lived JWT
with its own ES256 key; the receiving service verifies it against the public keys
it trusts, by issuer. Format (see docs/architecture.md):

- header: ``alg=ES256``, ``typ=coop-internal+jwt``, ``kid`` = issuer name
- claims: ``iss`` (issuer app), ``aud`` (target app), ``iat``, ``exp`` (<= 60 s later),
  ``jti``, ``sub`` (principal id), ``kind`` (person | client | service), ``grants``
  (list of ``{org, kind, role}``), and when known ``name`` (display name) and
  ``client`` (the OIDC client the caller came through); both optional, so tokens
  minted without them still verify.

No plain header is ever trusted as identity: the token is the only carrier.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from kernel.errors import RETRY_LATER, Forbidden, ServiceUnavailable, Unauthorized
from kernel.principal import Grant, Principal, PrincipalKind

INTERNAL_TOKEN_TYP = "coop-internal+jwt"  # noqa: S105 (a JWT "typ", not a secret)
ALGORITHMS = ["ES256"]
MAX_TTL_SECONDS = 60
LEEWAY_SECONDS = 5


def _import_key(jwk_json: str) -> ECKey:
    key = ECKey.import_key(json.loads(jwk_json))
    if key.curve_name != "P-256":
        raise ValueError("internal keys must be P-256 (ES256)")
    return key


class InternalTokenSigner:
    """Mints internal tokens for one issuer app."""

    def __init__(self, issuer: str, private_jwk_json: str, ttl_seconds: int = 30) -> None:
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError("internal token lifetime must be 1 to 60 seconds")
        self.issuer = issuer
        self._key = _import_key(private_jwk_json)
        self._ttl = ttl_seconds

    def mint(self, principal: Principal, audience: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + self._ttl,
            "jti": uuid.uuid4().hex,
            "sub": principal.subject,
            "kind": principal.kind.value,
            "grants": [
                {
                    "org": str(g.organisation_id),
                    "kind": g.organisation_kind.value,
                    "role": g.role.value,
                }
                for g in principal.grants
            ],
        }
        if principal.name is not None:
            claims["name"] = principal.name
        if principal.client is not None:
            claims["client"] = principal.client
        header = {"alg": "ES256", "typ": INTERNAL_TOKEN_TYP, "kid": self.issuer}
        return jwt.encode(header, claims, self._key, algorithms=ALGORITHMS)

    def mint_service(self, audience: str) -> str:
        """A token for this app itself calling another app's internal endpoint."""
        return self.mint(Principal(subject=self.issuer, kind=PrincipalKind.service), audience)


class InternalTokenVerifier:
    """Verifies internal tokens addressed to one app.

    A token is reused for many requests (the gateway caches what it mints), and an
    ES256 verification costs more CPU than a whole simple read: a verified token is
    remembered by its exact string until it expires (bounded LRU).
    """

    def __init__(
        self, audience: str, trusted_public_jwks: Mapping[str, str], cache_size: int = 4096
    ) -> None:
        self.audience = audience
        self._keys = {iss: _import_key(jwk) for iss, jwk in trusted_public_jwks.items()}
        self._cache_size = cache_size
        # token -> (principal, expiry as checked by _verify)
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            if hit[1] >= int(time.time()) - LEEWAY_SECONDS:
                self._verified.move_to_end(token)
                return hit[0]
            del self._verified[token]
        principal, exp = self._verify(token)
        if self._cache_size > 0:
            self._verified[token] = (principal, exp)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, int]:
        try:
            header = jws.extract_compact(token.encode()).headers()  # unverified: picks the key
        except (JoseError, ValueError) as exc:
            raise Unauthorized("Jeton interne illisible.") from exc
        if header.get("typ") != INTERNAL_TOKEN_TYP:
            raise Unauthorized("Ce jeton n'est pas un jeton interne.")
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("Algorithme de jeton interne refusé.")
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise Unauthorized("Émetteur de jeton interne inconnu.")
        try:
            decoded = jwt.decode(token, key, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise Unauthorized("Signature du jeton interne invalide.") from exc
        claims = decoded.claims
        now = int(time.time())
        if claims.get("iss") != header.get("kid"):
            raise Unauthorized("Émetteur du jeton interne incohérent.")
        if claims.get("aud") != self.audience:
            raise Unauthorized("Jeton interne destiné à un autre service.")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise Unauthorized("Jeton interne sans dates.")
        if exp < now - LEEWAY_SECONDS:
            raise Unauthorized("Jeton interne expiré.")
        if iat > now + LEEWAY_SECONDS or exp - iat > MAX_TTL_SECONDS:
            raise Unauthorized("Durée de vie du jeton interne refusée.")
        try:
            principal = Principal(
                subject=str(claims["sub"]),
                kind=PrincipalKind(claims["kind"]),
                grants=tuple(
                    Grant(organisation_id=g["org"], organisation_kind=g["kind"], role=g["role"])
                    for g in claims.get("grants", [])
                ),
                name=_optional_text(claims.get("name")),
                client=_optional_text(claims.get("client")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("Contenu du jeton interne invalide.") from exc
        return principal, exp


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("a text claim")
    return value


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Jeton interne manquant.")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    verifier: InternalTokenVerifier = request.app.state.internal_verifier
    principal = verifier.verify(_bearer(request))
    if principal.is_service:
        raise Forbidden("Un service ne peut pas appeler une route publique.")
    # Read by the access-log middleware: ids only, never the token.
    request.scope.setdefault("state", {})["principal_id"] = principal.subject
    return principal


async def calling_service(request: Request) -> Principal:
    """For internal endpoints that only another app of the suite may call."""
    verifier: InternalTokenVerifier = request.app.state.internal_verifier
    principal = verifier.verify(_bearer(request))
    if not principal.is_service:
        raise Forbidden("Route réservée aux services de la suite.")
    request.scope.setdefault("state", {})["principal_id"] = principal.subject
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CallingService = Annotated[Principal, Depends(calling_service)]


async def get_internal(
    http: httpx.AsyncClient,
    url: str,
    signer: InternalTokenSigner,
    audience: str,
    params: httpx.QueryParams | Mapping[str, str | int | Sequence[str]] | None = None,
) -> httpx.Response:
    """GET another app's internal route with this app's service token. A pooled
    keep-alive connection the other app closed as it was being reused (its idle
    timeout) fails at once: the GET is safe to send again, once, on a fresh one."""
    try:
        return await http.get(url, params=params, headers=_service_headers(signer, audience))
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        return await http.get(url, params=params, headers=_service_headers(signer, audience))


async def read_internal(
    http: httpx.AsyncClient,
    url: str,
    signer: InternalTokenSigner,
    audience: str,
    params: httpx.QueryParams | Mapping[str, str | int | Sequence[str]] | None = None,
    *,
    service: str,
    consequence: str,
    accept: Collection[int] = (200,),
) -> httpx.Response:
    """`get_internal` for a reader that cannot go on without the answer: the other app
    unreachable, or answering a status not in `accept`, is a 503 naming it and what
    waits ("<service> injoignable : <consequence>"), retried by the caller's caller."""
    try:
        resp = await get_internal(http, url, signer, audience, params)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"{service} injoignable : {consequence}", headers={"Retry-After": RETRY_LATER}
        ) from exc
    if resp.status_code not in accept:
        raise ServiceUnavailable(
            f"{service} : réponse {resp.status_code}, {consequence}",
            headers={"Retry-After": RETRY_LATER},
        )
    return resp


def _service_headers(signer: InternalTokenSigner, audience: str) -> dict[str, str]:
    return {"authorization": f"Bearer {signer.mint_service(audience)}"}
