"""The streaming reverse proxy: one pooled httpx client per service.

Bodies stream both ways chunk by chunk (memory stays flat whatever the size). The
inbound `Authorization` is replaced by the internal token; hop-by-hop headers and
anything a client could use to pose as someone or something else (`x-coop-*`,
`x-forwarded-*`, `forwarded`, `x-real-ip`, cookies) are dropped; `X-Request-ID`
is propagated and `X-Forwarded-For/Proto/Host` are set by the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import httpx
from starlette.types import Receive, Scope, Send

from gateway.proxy.transport import FastTransport
from kernel.errors import RETRY_LATER, RETRY_SOON, DomainError, ServiceUnavailable

_log = logging.getLogger("coop.gateway.proxy")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Never forwarded from the client: identity and routing facts are the gateway's to state.
_STRIPPED_INBOUND = HOP_BY_HOP | {
    b"host",
    b"authorization",
    b"cookie",
    b"forwarded",
    b"x-real-ip",
    b"x-request-id",
    b"expect",
}
_STRIPPED_PREFIXES = (b"x-coop-", b"x-forwarded-", b"x-internal-")
# Never returned to the client.
# (The gateway sets its own X-Request-ID, the same one it sent to the service.)
_STRIPPED_OUTBOUND = HOP_BY_HOP | {b"server", b"date", b"set-cookie", b"x-request-id"}


class GatewayTimeout(DomainError):
    status = 504
    slug = "gateway-timeout"
    title = "Service trop lent"


class BadGateway(DomainError):
    status = 502
    slug = "bad-gateway"
    title = "Réponse invalide d'un service"


class ClientDisconnected(Exception):
    """The client went away while its request body was being forwarded."""


def _without_named_hop(
    headers: list[tuple[bytes, bytes]], connection: list[bytes]
) -> list[tuple[bytes, bytes]]:
    """`headers` less those the Connection header's values (`connection`) name as
    hop-by-hop beyond the standard ones; `headers` itself when it names none."""
    named = {t.strip().lower() for value in connection for t in value.split(b",")} - HOP_BY_HOP
    return [header for header in headers if header[0] not in named] if named else headers


class Framing(NamedTuple):
    """How the request's body travels: `length` bytes (0: none), or chunked."""

    chunked: bool
    length: int | None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.length)


def upstream_headers(
    scope: Scope, internal_token: str, request_id: str
) -> tuple[list[tuple[bytes, bytes]], Framing]:
    """The headers sent to the service, and the body's framing (chunked when it has no
    Content-Length)."""
    out: list[tuple[bytes, bytes]] = []
    host = b""
    length: bytes | None = None
    chunked = False
    connection: list[bytes] = []
    for name, value in scope["headers"]:
        if name in _STRIPPED_INBOUND:
            if name == b"host":
                host = value
            elif name == b"connection":
                connection.append(value)
            elif name == b"transfer-encoding":
                chunked = True
            continue
        if name == b"content-length":
            length = value
        elif name.startswith(_STRIPPED_PREFIXES):
            continue
        out.append((name, value))
    if connection:
        out = _without_named_hop(out, connection)
    client = scope.get("client")
    out.append((b"authorization", b"Bearer " + internal_token.encode("ascii")))
    out.append((b"x-request-id", request_id.encode("latin-1")))
    if client:
        out.append((b"x-forwarded-for", client[0].encode("latin-1")))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if host:
        out.append((b"x-forwarded-host", host))
    if length is not None:  # a length frames the body, whatever else was said
        # Digits only: the server's parser and BodySizeLimitMiddleware refused the rest.
        return out, Framing(False, int(length))
    return out, Framing(chunked, None)


# A body this small (by its Content-Length) is read whole before it is sent: it leaves
# with the head in one write, and can be sent again if a kept-alive connection the
# service had just closed is picked (a streamed body cannot).
SMALL_BODY = 64 * 1024


async def _whole_body(receive: Receive) -> bytes:
    parts = [chunk async for chunk in _request_body(receive)]
    return b"".join(parts)


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


@dataclass(frozen=True)
class ServiceClient:
    """One service's connection pool: `client` for ordinary calls (OpenAPI), `transport`
    (the same pool) driven directly by the proxy, skipping the client-level work
    (cookies, redirects, auth, default headers) a reverse proxy does not want."""

    client: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    timeout: dict[str, float | None]
    # Document uploads and downloads (routing.is_transfer): a longer read timeout.
    transfer_timeout: dict[str, float | None]


def build_client(
    *,
    connect: float,
    read: float,
    write: float,
    pool: float,
    max_connections: int,
    max_keepalive: int,
    transfer_read: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServiceClient:
    timeout = httpx.Timeout(connect=connect, read=read, write=write, pool=pool)
    transfer = httpx.Timeout(
        connect=connect,
        read=read if transfer_read is None else transfer_read,
        write=write,
        pool=pool,
    )
    if transport is None:
        # Never an environment proxy: FastTransport connects to the service's own address.
        transport = FastTransport(max_connections=max_connections, max_keepalive=max_keepalive)
    client = httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
    )
    return ServiceClient(client, transport, timeout.as_dict(), transfer.as_dict())


def _mapped(exc: httpx.TransportError, service: str) -> DomainError:
    """A transport failure before the response started, as the problem the client sees:
    a service down or not accepting connections is a 503 the client may retry later,
    the gateway's own connections to it all busy one to retry at once; a service that
    accepted the request and does not answer, a 504."""
    if isinstance(exc, httpx.TimeoutException):
        _log.warning("service timeout", extra={"fields": {"service": service}})
        if isinstance(exc, httpx.PoolTimeout):
            return ServiceUnavailable(
                f"Le service {service} est saturé.", headers={"Retry-After": RETRY_SOON}
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return ServiceUnavailable(
                f"Le service {service} ne répond pas.", headers={"Retry-After": RETRY_LATER}
            )
        return GatewayTimeout(f"Le service {service} a mis trop de temps à répondre.")
    if isinstance(exc, httpx.ConnectError):
        _log.warning("service unreachable", extra={"fields": {"service": service}})
        return ServiceUnavailable(
            f"Le service {service} est injoignable.", headers={"Retry-After": RETRY_LATER}
        )
    _log.warning("service transport error", extra={"fields": {"service": service}})
    return BadGateway(f"Le service {service} a interrompu la réponse.")


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int
    host_header: bytes
    prefix: bytes  # a base URL's path, put before the request's


def _origin(base_url: str) -> _Origin:
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    netloc = url.host if url.port is None else f"{url.host}:{url.port}"
    return _Origin(url.host, port, netloc.encode("ascii"), url.raw_path.rstrip(b"/"))


def _response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What the client gets of the service's headers (names lowercased): one pass, a
    second only when a Connection header named headers of its own."""
    out: list[tuple[bytes, bytes]] = []
    connection: list[bytes] = []
    for name, value in headers:
        if name in _STRIPPED_OUTBOUND:
            if name == b"connection":
                connection.append(value)
            continue
        out.append((name, value))
    return _without_named_hop(out, connection) if connection else out


class Upstream(NamedTuple):
    """A service's response, whichever transport carried it (header names lowercased).
    `complete()` says, between two chunks, whether the body has been read to its end
    (False when unknown)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]
    complete: Callable[[], bool]


def _unknown() -> bool:
    return False


async def relay(send: Send, upstream: Upstream, service: str) -> None:
    """The service's response to the client, chunk by chunk; the connection goes back to
    its pool (or is closed) whatever happens."""
    try:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": _response_headers(upstream.headers),
            }
        )
        ended = False
        async for chunk in upstream.body:
            # The last chunk ends the response itself: no empty message through every
            # middleware and the server after it (most answers are one chunk).
            ended = upstream.complete()
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except httpx.TransportError:
        # Headers are gone already: all we can do is cut the connection, so the
        # client sees a truncated response rather than a falsely complete one.
        _log.warning("service stream interrupted", extra={"fields": {"service": service}})
        raise
    finally:
        await upstream.aclose()


class Proxy:
    def __init__(self, clients: Mapping[str, ServiceClient], base_urls: Mapping[str, str]):
        self._clients = clients
        self._bases = {name: url.rstrip("/") for name, url in base_urls.items()}
        self._origins = {name: _origin(url) for name, url in base_urls.items()}

    async def open(
        self,
        scope: Scope,
        receive: Receive,
        *,
        service: str,
        internal_token: str,
        request_id: str,
        transfer: bool = False,
    ) -> Upstream | None:
        """The request sent to `service` and its response started: its status and headers,
        the body still to stream (`relay`). Failures so far are DomainErrors (nothing has
        been answered yet); None when the client left while its body was forwarded.
        `transfer`: a document upload or download (its longer read timeout)."""
        pool = self._clients.get(service)
        if pool is None:
            raise ServiceUnavailable(f"Le service {service} n'est pas configuré.")
        timeout = pool.transfer_timeout if transfer else pool.timeout
        headers, framing = upstream_headers(scope, internal_token, request_id)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string") or b""
        body: bytes | AsyncIterator[bytes] | None = None
        try:
            if framing.length is not None and 0 < framing.length <= SMALL_BODY:
                body = await _whole_body(receive)
            elif framing.has_body:
                body = _request_body(receive)
            if isinstance(pool.transport, FastTransport):
                # No httpx Request/Response to build (half the gateway's CPU per request
                # went there): the transport takes the raw request line and headers.
                origin = self._origins[service]
                target = origin.prefix + raw_path
                if query:
                    target += b"?" + query
                headers.append((b"host", origin.host_header))
                fast = await pool.transport.exchange(
                    origin.host,
                    origin.port,
                    scope["method"].encode("ascii"),
                    target,
                    headers,
                    b"" if body is None else body,
                    timeout,
                    chunked=framing.chunked,
                )
                upstream = Upstream(
                    fast.status, fast.headers, aiter(fast), fast.aclose, fast.complete
                )
            else:
                url = self._bases[service] + raw_path.decode("latin-1")
                if query:
                    url += "?" + query.decode("latin-1")
                request = httpx.Request(
                    scope["method"],
                    url,
                    headers=headers,
                    content=body,
                    extensions={"timeout": timeout},
                )
                response = await pool.transport.handle_async_request(request)
                upstream = Upstream(
                    response.status_code,
                    [(name.lower(), value) for name, value in response.headers.raw],
                    response.aiter_raw(),
                    response.aclose,
                    _unknown,
                )
        except ClientDisconnected:
            return None  # nobody left to answer
        except httpx.TransportError as exc:
            raise _mapped(exc, service) from exc
        return upstream
