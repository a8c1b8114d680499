"""The issuer's signing keys: discovery, JWKS cache, refresh on unknown `kid`.

- The key set is cached for the JWKS response's Cache-Control max-age (bounded); past
  it, the next request refreshes it (scheduled refresh).
- An unknown `kid` is a key published since the last fetch until proven otherwise: it
  triggers a refresh at once, unless another unknown `kid` did within the cooldown
  (random kids cannot hammer the issuer). Scheduled refreshes do not count: one that
  ran a second before a rotation must not delay the new key. Concurrent requests
  share one in-flight fetch.
- A refresh replaces the key set, so keys the issuer dropped stop working; `on_change`
  tells the verifier to forget the tokens it remembered.
- Discovery must name the configured issuer, exactly (OIDC Discovery §4.3): otherwise
  nothing is loaded, every request is a 503, and `problem` says why (readiness, logs).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any, NoReturn

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from gateway.auth.errors import IdentityProviderUnavailable

Key = RSAKey | ECKey | OKPKey
_log = logging.getLogger("coop.gateway.jwks")
_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_KEY_TYPES: dict[str, type[Key]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


def cache_lifetime(cache_control: str | None, default: int, maximum: int) -> int:
    if not cache_control:
        return default
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 1
    found = _MAX_AGE_RE.search(cache_control)
    if not found:
        return default
    return max(1, min(int(found.group(1)), maximum))


def parse_key_set(document: Any) -> dict[str, Key]:
    """Signature keys by kid; keys without kid, for encryption, or unreadable are skipped."""
    keys: dict[str, Key] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("JWKS without a 'keys' list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig" or kty not in _KEY_TYPES:
            continue
        try:
            key = _KEY_TYPES[kty].import_key(entry)
        except (JoseError, ValueError, TypeError):
            _log.warning("skipping an unreadable key", extra={"fields": {"kid": kid}})
            continue
        if key.is_private:
            # An issuer publishing private material is misconfigured; never use it.
            continue
        keys[kid] = key
    return keys


class IssuerMismatch(Exception):
    """The discovery document names another issuer: a configuration mistake."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem  # French, for readiness and 503s
        self.message = message  # English, for the log


# A failed scheduled refresh keeps the keys it had and tries again after this long
# (not on every request: each attempt may wait for the HTTP timeout).
RETRY_AFTER_FAILURE_SECONDS = 30.0


class JwksCache:
    def __init__(
        self,
        client: httpx.AsyncClient,
        discovery_url: str,
        *,
        issuer: str,
        default_max_age: int = 300,
        max_max_age: int = 3600,
        refresh_cooldown: float = 5.0,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._discovery_url = discovery_url
        self._issuer = issuer
        self._default_max_age = default_max_age
        self._max_max_age = max_max_age
        self._cooldown = refresh_cooldown
        self._on_change = on_change
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str, Key] | None = None
        self._expires_at = 0.0
        # Start of the last fetch asked by an unknown kid (the cooldown's reference).
        self._last_on_demand = float("-inf")
        # Last failure while no key set was loaded: requests fail fast until the cooldown.
        self._failed_at = float("-inf")
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_on_demand = False
        self._reported: str | None = None
        # Why no key set is loaded (French, for readiness and 503s); None once loaded.
        self.problem: str | None = None
        # Observability (and tests): how many times the JWKS document was fetched.
        self.fetch_count = 0

    @property
    def fresh(self) -> bool:
        """A key set is loaded and its max-age has not passed."""
        return self._keys is not None and self._clock() < self._expires_at

    def _lookup(self, kid: str) -> Key | None:
        return None if self._keys is None else self._keys.get(kid)

    async def get(self, kid: str) -> Key | None:
        if self._keys is None:
            await self.load()
        key = self._lookup(kid)
        if key is not None:
            if self._clock() < self._expires_at:
                return key
            await self._refresh(on_demand=False)  # scheduled: the max-age has passed
            return self._lookup(kid)
        inflight = self._inflight
        if inflight is not None:
            # A fetch under way may bring the key; if it was started for an unknown kid,
            # it is this kid's one refresh too.
            on_demand = self._inflight_on_demand
            await asyncio.shield(inflight)
            key = self._lookup(kid)
            if key is not None or on_demand:
                return key
        now = self._clock()
        if now - self._last_on_demand < self._cooldown:
            return None  # another unknown kid asked the issuer moments ago: not again
        self._last_on_demand = now
        await self._refresh(on_demand=True)
        return self._lookup(kid)

    async def refresh_if_stale(self) -> None:
        """The scheduled refresh, for callers holding a result verified earlier."""
        if self._keys is not None and self._clock() >= self._expires_at:
            await self._refresh(on_demand=False)

    async def load(self) -> None:
        """Load a first key set; IdentityProviderUnavailable (503) when it cannot be."""
        if self._keys is not None:
            return
        if self._inflight is None and self._clock() - self._failed_at < self._cooldown:
            self._unavailable()
        await self._refresh(on_demand=False)

    async def warm_up(self) -> None:
        """At start-up: load the keys (logging plainly why not), retrying until done."""
        while self._keys is None:
            try:
                await self.load()
            except IdentityProviderUnavailable:
                await asyncio.sleep(max(self._cooldown, 1.0))

    async def readiness_problem(self) -> str | None:
        """None when tokens can be verified; otherwise why not (French)."""
        try:
            await self.load()
        except IdentityProviderUnavailable:
            return self.problem
        return None

    async def _refresh(self, *, on_demand: bool) -> None:
        """Fetch the key set; concurrent callers share one fetch."""
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch())
            self._inflight = task
            self._inflight_on_demand = on_demand
            task.add_done_callback(self._clear_inflight)
        await asyncio.shield(task)

    def _clear_inflight(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so asyncio never logs it as lost

    def _unavailable(self) -> NoReturn:
        detail = "Les clés du fournisseur d'identité sont indisponibles."
        raise IdentityProviderUnavailable(
            f"{detail} {self.problem}" if self.problem else detail,
            # The next attempt is allowed once the cooldown has passed.
            headers={"retry-after": str(max(1, math.ceil(self._cooldown)))},
        )

    async def _fetch(self) -> None:
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            response = await self._client.get(self._jwks_uri)
            self.fetch_count += 1
            response.raise_for_status()
            keys = parse_key_set(response.json())
        except IssuerMismatch as exc:
            self._failed(exc.problem, exc.message, logging.ERROR)
            return
        except (httpx.HTTPError, ValueError) as exc:
            problem = f"Fournisseur d'identité injoignable ou réponse illisible ({exc!r})."
            self._failed(problem, f"JWKS fetch failed: {exc!r}", logging.WARNING)
            return
        lifetime = cache_lifetime(
            response.headers.get("cache-control"), self._default_max_age, self._max_max_age
        )
        previous = self._keys
        self._keys = keys
        self._expires_at = self._clock() + lifetime
        self.problem = None
        if self._reported is not None or previous is None:
            _log.info("identity provider keys loaded", extra={"fields": {"kids": sorted(keys)}})
        self._reported = None
        changed = previous is not None and _fingerprint(previous) != _fingerprint(keys)
        if changed and self._on_change is not None:
            self._on_change()

    def _failed(self, problem: str, message: str, level: int) -> None:
        """Keeps a loaded key set; raises IdentityProviderUnavailable when there is none."""
        # One log line per distinct problem, not one per retry.
        if message != self._reported:
            _log.log(level, message)
            self._reported = message
        if self._keys is not None:
            # Keep the keys we have (the issuer may be briefly down); retry later.
            self._expires_at = self._clock() + RETRY_AFTER_FAILURE_SECONDS
            return
        self.problem = problem
        self._failed_at = self._clock()
        self._unavailable()

    async def _discover(self) -> str:
        response = await self._client.get(self._discovery_url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("discovery document is not a JSON object")
        announced = document.get("issuer")
        if announced != self._issuer:
            raise IssuerMismatch(
                f"L'émetteur configuré (COOP_GATEWAY_OIDC_ISSUER = « {self._issuer} ») ne "
                f"correspond pas à celui du document de découverte (« {announced} ») : "
                "aucun jeton ne peut être vérifié.",
                f"OIDC issuer mismatch: COOP_GATEWAY_OIDC_ISSUER is {self._issuer!r} but the "
                f"discovery document at {self._discovery_url} names {announced!r}; every "
                "authenticated request is refused (503) until the setting matches exactly",
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("discovery document without jwks_uri")
        return jwks_uri


def _fingerprint(keys: dict[str, Key]) -> set[tuple[str, str]]:
    return {(kid, key.thumbprint()) for kid, key in keys.items()}
