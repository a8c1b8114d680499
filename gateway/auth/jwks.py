"""The issuer's signing keys: discovery, JWKS cache, refresh on unknown `kid`.

- The key set is cached for the JWKS response's Cache-Control max-age (bounded).
- An unknown `kid` triggers one refresh, at most once per cooldown, and concurrent
  requests share a single in-flight fetch: random kids cannot hammer the issuer.
- A refresh replaces the key set, so keys the issuer dropped stop working.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

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


class JwksCache:
    def __init__(
        self,
        client: httpx.AsyncClient,
        discovery_url: str,
        *,
        issuer: str,
        default_max_age: int = 300,
        max_max_age: int = 3600,
        refresh_cooldown: float = 30.0,
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
        self._last_attempt = float("-inf")
        self._inflight: asyncio.Task[None] | None = None
        # Observability (and tests): how many times the JWKS document was fetched.
        self.fetch_count = 0

    async def get(self, kid: str) -> Key | None:
        now = self._clock()
        recent = now - self._last_attempt < self._cooldown
        if self._keys is not None:
            key = self._keys.get(kid)
            if key is not None and (now < self._expires_at or recent):
                return key
            if recent:
                return None  # unknown kid and the issuer was asked recently: not again
        elif recent and self._inflight is None:
            raise IdentityProviderUnavailable(
                "Les clés du fournisseur d'identité sont indisponibles."
            )
        await self.refresh()
        return None if self._keys is None else self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the key set; concurrent callers share one fetch."""
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch())
            self._inflight = task
            task.add_done_callback(self._clear_inflight)
        await asyncio.shield(task)

    def _clear_inflight(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so asyncio never logs it as lost

    async def _fetch(self) -> None:
        self._last_attempt = self._clock()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            response = await self._client.get(self._jwks_uri)
            self.fetch_count += 1
            response.raise_for_status()
            keys = parse_key_set(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("JWKS fetch failed", extra={"fields": {"error": repr(exc)}})
            if self._keys is None:
                raise IdentityProviderUnavailable(
                    "Les clés du fournisseur d'identité sont indisponibles."
                ) from exc
            return
        lifetime = cache_lifetime(
            response.headers.get("cache-control"), self._default_max_age, self._max_max_age
        )
        changed = self._keys is not None and set(self._keys) != set(keys)
        self._keys = keys
        self._expires_at = self._clock() + lifetime
        if changed and self._on_change is not None:
            self._on_change()

    async def _discover(self) -> str:
        response = await self._client.get(self._discovery_url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or document.get("issuer") != self._issuer:
            raise ValueError("discovery document of another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("discovery document without jwks_uri")
        return jwks_uri
