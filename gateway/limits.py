"""Rate limits, request size limits, CORS and security headers of the gateway.

Rate limiting is an in-memory token bucket per gateway process: per client IP before
authentication (middleware), per principal after it (gateway.proxy.lane and the
gateway's own routes). Each of a gateway's N worker processes enforces its share of
the budget (rate and burst / N): the kernel spreads connections over the workers, so
a client using several connections gets the whole budget, one on a single kept-alive
connection its worker's share. Several gateway replicas each apply their own budget.
A refusal is a 429 problem with `Retry-After` and the IETF httpapi draft's `RateLimit`
and `RateLimit-Policy` fields, the latter stating the whole budget, not a worker's share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.errors import PayloadTooLarge, TooManyRequests, domain_error_response

MAX_KEYS = 100_000


class TokenBuckets:
    """`rate` tokens per second, at most `burst` saved, one bucket per key.

    Memory is bounded by `max_keys` buckets: a new key evicts the least recently used
    one, never everyone's (clearing them all let a flood from many addresses give every
    client a fresh budget). The evicted bucket is the one idle the longest, most likely
    full again by then."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
        *,
        name: str = "limite",
        whole: tuple[float, int] | None = None,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self.max_keys = max_keys
        self.name = name
        # What a refused client is told: the whole budget (`whole`: rate and burst of
        # every worker together), `burst` requests per the seconds an empty bucket takes
        # to fill again.
        whole_rate, whole_burst = whole or (rate, burst)
        window = max(1, math.ceil(whole_burst / whole_rate))
        self.policy = f'"{name}";q={whole_burst};w={window}'
        # Least recently used first.
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    @classmethod
    def share(cls, rate: float, burst: int, workers: int | None, name: str) -> TokenBuckets:
        """One worker's share of a budget of `rate` per second and `burst` (None: the
        process is the only one), named `name` in the RateLimit fields."""
        n = workers or 1
        return cls(rate / n, max(1, math.ceil(burst / n)), name=name, whole=(rate, burst))

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds until a token is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        self._buckets.move_to_end(key)
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate


def too_many_requests(wait: float, buckets: TokenBuckets) -> TooManyRequests:
    """The refusal of a request `buckets` has no token for, `wait` seconds before one."""
    retry_after = str(max(1, math.ceil(wait)))
    return TooManyRequests(
        "Trop de requêtes ; réessayez plus tard.",
        headers={
            "retry-after": retry_after,
            "ratelimit-policy": buckets.policy,
            "ratelimit": f'"{buckets.name}";r=0;t={retry_after}',
        },
    )


class IpRateLimitMiddleware:
    """Per client IP, before any authentication work is done."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "?")
            if wait:
                refusal = domain_error_response(
                    too_many_requests(wait, self.buckets), scope["path"]
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Le contenu dépasse la taille maximale ({limit} octets).")


class BodySizeLimitMiddleware:
    """Refuses bodies over the route's limit: by Content-Length up front, else while read."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    refusal = domain_error_response(_too_large(limit), scope["path"])
                    await refusal(scope, receive, send)
                    return
                # The server frames the body by this length: it cannot grow past it.
                await self.app(scope, receive, send)
                return
            if name == b"transfer-encoding":
                chunked = True
        if not chunked:  # neither length nor chunks: HTTP/1.1 has no body to count
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, limited_receive, send)


_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
_OPENER = (b"cross-origin-opener-policy", b"same-origin")
# The console opens the identity provider's sign-in page in a popup and keeps it as its
# own (the popup hands the code back through `window.opener`).
_CONSOLE_OPENER = (b"cross-origin-opener-policy", b"same-origin-allow-popups")
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
CONSOLE_PREFIX = "/docs"
# The popup's last page, reached from the identity provider's page: with any opener
# policy the browser would cut it off from the console that opened it.
CONSOLE_REDIRECT = "/docs/oauth2-redirect"


class SecurityHeadersMiddleware:
    """Adds the headers a service did not set itself (never duplicates them). The API
    gets a CSP that allows nothing; the console (/docs) `console_csp`, what its page
    needs."""

    def __init__(self, app: ASGIApp, console_csp: str, hsts: bool = False) -> None:
        self.app = app
        common = _SECURITY_HEADERS + ((_HSTS,) if hsts else ())
        csp = (b"content-security-policy", console_csp.encode("ascii"))
        self.api_headers = (*common, _OPENER, _API_CSP)
        self.console_headers = (*common, _CONSOLE_OPENER, csp)
        self.redirect_headers = (*common, csp)
        self.names = frozenset(name for name, _ in self.api_headers)

    def _wanted(self, path: str) -> tuple[tuple[bytes, bytes], ...]:
        if path == CONSOLE_REDIRECT:
            return self.redirect_headers
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            return self.console_headers
        return self.api_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self._wanted(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if present.isdisjoint(self.names):  # as nearly always: all of them
                    headers += wanted
                else:
                    headers.extend(h for h in wanted if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_options(origins: list[str]) -> dict[str, object]:
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": [
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "idempotency-key",
            "x-request-id",
            "range",
        ],
        "expose_headers": [
            "etag",
            "location",
            "idempotent-replayed",
            "x-coop-secret-omis",
            "retry-after",
            "ratelimit",
            "ratelimit-policy",
            "x-request-id",
            "content-disposition",
            "content-range",
            "accept-ranges",
        ],
        "allow_credentials": False,
        "max_age": 600,
    }


__all__ = [
    "BodySizeLimitMiddleware",
    "CORSMiddleware",
    "IpRateLimitMiddleware",
    "SecurityHeadersMiddleware",
    "TokenBuckets",
    "cors_options",
    "too_many_requests",
]
