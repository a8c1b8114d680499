"""Access token validation (the gateway as an OIDC resource server).

Order of checks: readable compact JWS, not an internal token, `alg` in the settings'
allow-list (never trusted from the token alone), `kid` known to the issuer's JWKS,
key type matching the algorithm, signature, then `iss`, `aud`, `exp`, `nbf`, `iat`
with a small leeway.

Who is calling: a machine client (its `client_id`, else `azp`) only when the token has
no person subject: no `sub`, `sub` equal to the client id, or the service-account rule
(`ServiceAccountRule`, Keycloak's by default). Anything else is the person (iss, sub),
whatever app they came through: RFC 9068 puts `client_id` in every access token.

Verified tokens are remembered until they expire, but no longer than the key set they
were verified with: past its max-age the key set is refreshed first, and a change of
keys forgets them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from gateway.auth.errors import invalid_token, missing_token
from gateway.auth.jwks import JwksCache, Key
from gateway.identity import CallerIdentity
from kernel.errors import Unauthorized
from kernel.internal_token import INTERNAL_TOKEN_TYP
from kernel.principal import PrincipalKind

_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
SUPPORTED_ALGORITHMS = frozenset({*_RSA_ALGS, *_EC_CURVES, "EdDSA"})


def key_matches_algorithm(key: Key, alg: str) -> bool:
    if alg in _RSA_ALGS:
        return isinstance(key, RSAKey)
    if alg in _EC_CURVES:
        return isinstance(key, ECKey) and key.curve_name == _EC_CURVES[alg]
    if alg == "EdDSA":
        return isinstance(key, OKPKey) and key.curve_name in {"Ed25519", "Ed448"}
    return False


@dataclass(frozen=True)
class ServiceAccountRule:
    """`claim` equal to `value` ({client_id} replaced) marks a machine client's token."""

    claim: str
    value: str

    def matches(self, claims: dict[str, Any], client_id: str) -> bool:
        return claims.get(self.claim) == self.value.format(client_id=client_id)


KEYCLOAK_SERVICE_ACCOUNTS = ServiceAccountRule("preferred_username", "service-account-{client_id}")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise missing_token()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise invalid_token("En-tête Authorization invalide.", "expected a Bearer token")
    return token


class AccessTokenVerifier:
    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway: int = 30,
        cache_size: int = 10_000,
        service_account_rule: ServiceAccountRule | None = KEYCLOAK_SERVICE_ACCOUNTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported:
            raise ValueError(f"unsupported access token algorithms: {sorted(unsupported)}")
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway
        self._service_account_rule = service_account_rule
        self._clock = clock
        # token -> (identity, expiry): a verified token is not verified again until it expires.
        self._cache: dict[str, tuple[CallerIdentity, float]] = {}
        self._cache_size = cache_size

    def forget_verified(self) -> None:
        """Called when the issuer's key set changes: re-verify every token."""
        self._cache.clear()

    async def verify(self, token: str) -> CallerIdentity:
        cached = self._cache.get(token)
        if cached is not None:
            if self._clock() < cached[1]:
                if self._jwks.fresh:
                    return cached[0]
                # Past the key set's max-age: refresh it first. A changed key set
                # forgets every remembered token (on_change), so a dropped key's
                # tokens are verified again, and refused.
                await self._jwks.refresh_if_stale()
                if self._cache.get(token) is cached:
                    return cached[0]
            else:
                del self._cache[token]
        identity, expires = await self._verify(token)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[token] = (identity, expires)
        return identity

    async def _verify(self, token: str) -> tuple[CallerIdentity, float]:
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise invalid_token("Jeton d'accès illisible.", "malformed token") from exc
        if header.get("typ") == INTERNAL_TOKEN_TYP:
            raise invalid_token(
                "Un jeton interne n'est pas accepté par la passerelle.", "not an access token"
            )
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise invalid_token("Algorithme de signature refusé.", "algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_token("Jeton d'accès sans identifiant de clé.", "missing kid")
        key = await self._jwks.get(kid)
        if key is None:
            raise invalid_token("Clé de signature inconnue.", "unknown signing key")
        if not key_matches_algorithm(key, alg):
            raise invalid_token(
                "La clé ne correspond pas à l'algorithme.", "key type does not match alg"
            )
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise invalid_token("Signature du jeton invalide.", "invalid signature") from exc
        expires = self._check_claims(claims)
        return self._identity(claims), expires

    def _check_claims(self, claims: dict[str, Any]) -> float:
        now = self._clock()
        if claims.get("iss") != self._issuer:
            raise invalid_token("Jeton émis par un autre fournisseur.", "wrong issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self._audience not in audiences:
            raise invalid_token("Jeton destiné à une autre application.", "wrong audience")
        exp = _number(claims.get("exp"))
        if exp is None:
            raise invalid_token("Jeton sans date d'expiration.", "missing exp")
        if now >= exp + self._leeway:
            raise invalid_token("Jeton expiré.", "token expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or now + self._leeway < nbf):
            raise invalid_token("Jeton pas encore valide.", "token not yet valid")
        iat = claims.get("iat")
        if iat is not None and (not _is_number(iat) or now + self._leeway < iat):
            raise invalid_token("Jeton émis dans le futur.", "token issued in the future")
        return exp + self._leeway

    def _identity(self, claims: dict[str, Any]) -> CallerIdentity:
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        sub = _text(claims.get("sub"))
        client_id = _text(claims.get("client_id")) or _text(claims.get("azp"))
        if client_id is not None and (
            sub is None
            or sub == client_id
            or (
                self._service_account_rule is not None
                and self._service_account_rule.matches(claims, client_id)
            )
        ):
            return CallerIdentity(
                self._issuer,
                client_id,
                PrincipalKind.client,
                name=_text(claims.get("name")),
                client=client_id,
            )
        if sub is None:
            raise invalid_token("Jeton sans sujet.", "missing sub")
        # A person, whatever app (`client_id`) they came through.
        return CallerIdentity(
            self._issuer,
            sub,
            PrincipalKind.person,
            email,
            display_name(claims),
            client_id,
            email_verified=email is not None and claims.get("email_verified") is True,
        )


def display_name(claims: dict[str, Any]) -> str | None:
    """How histories name a person: `name`, else given and family names (`usual_name`
    is ProConnect's), else `preferred_username`; never the e-mail (erased when the
    person leaves, while histories keep the name)."""
    name = _text(claims.get("name"))
    if name is not None:
        return name.strip()[:300] or None
    parts = [
        _text(claims.get("given_name")),
        _text(claims.get("family_name")) or _text(claims.get("usual_name")),
    ]
    joined = " ".join(p.strip() for p in parts if p and p.strip())
    if joined:
        return joined[:300]
    username = (_text(claims.get("preferred_username")) or "").strip()
    return username[:300] or None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


__all__ = [
    "KEYCLOAK_SERVICE_ACCOUNTS",
    "AccessTokenVerifier",
    "ServiceAccountRule",
    "Unauthorized",
    "bearer_token",
    "display_name",
    "key_matches_algorithm",
]
