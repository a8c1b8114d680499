"""A lean HTTP/1.1 keep-alive transport behind the httpx API, for the gateway's proxy.

httpx's default transport (httpcore + h11, pure Python, with a general-purpose pool)
cost the gateway ~0.85 ms of CPU per proxied request; this one parses with httptools
(llhttp, the parser uvicorn itself runs) straight from an asyncio Protocol (body
chunks are passed on as received, never copied through a stream buffer: asyncio
streams cost a third of the gateway's CPU on 5 MiB downloads) and keeps one small
pool per service. It speaks only what the proxy needs: plain HTTP/1.1 to one origin,
streaming request bodies (Content-Length or chunked) and streaming responses with
backpressure (the socket is paused while 512 KiB wait for the client).

Failures surface as httpx exceptions so callers keep their mapping: ConnectTimeout,
ConnectError, PoolTimeout, ReadTimeout, WriteTimeout, RemoteProtocolError.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from types import TracebackType
from typing import cast

import httptools
import httpx

# Body bytes held per connection before the socket is paused, and resumed below.
_HIGH_WATER = 512 * 1024
_LOW_WATER = 128 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _settled(waiter: asyncio.Future[None], within: float | None) -> None:
    """Await `waiter`; TimeoutError after `within` seconds. A bare timer, not
    asyncio.timeout(): this runs once or more per proxied request."""
    # (The waiter's loop, not get_running_loop(): on 3.11 that is a getpid() system call.)
    timer = None if within is None else waiter.get_loop().call_later(within, _expire, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()


class _Parser:
    """httptools callbacks: status and headers, then body chunks as they arrive."""

    __slots__ = (
        "body",
        "buffered",
        "complete",
        "connection",
        "framed",
        "got_bytes",
        "headers",
        "headers_done",
        "parser",
    )

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []  # names lowercased
        self.connection: list[bytes] = []  # the Connection header's values
        self.framed = False  # a Content-Length or Transfer-Encoding was given
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.got_bytes = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        # What the response's framing and keep-alive depend on is noted here, once per
        # header, rather than found again by every reader of the list.
        name = name.lower()
        self.headers.append((name, value))
        if name == b"connection":
            self.connection.append(value)
        elif name == b"content-length" or name == b"transfer-encoding":
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _Connection(asyncio.Protocol):
    """One socket to the service. Responses are parsed as bytes arrive (no stream buffer
    to copy through); the body chunks wait in the parser's deque for the consumer."""

    def __init__(self) -> None:
        # Built by the loop's create_connection: its loop, asked once per connection.
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser: _Parser | None = None
        self.closed = False
        self.eof = False
        self.error: httpx.TransportError | None = None
        self.reading_paused = False
        self._write_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        p = self.parser
        if p is None or p.complete:
            self.close()  # bytes nobody asked for: this connection cannot be trusted again
            return
        p.got_bytes = True
        try:
            p.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"réponse HTTP invalide : {exc}")
            self.close()
        if p.buffered > _HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self._wake()
        self._wake_drain()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # ours
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _wake_drain(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def usable(self) -> bool:
        return (
            not self.closed
            and not self.eof
            and self.error is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def consumed(self, p: _Parser) -> None:
        if self.reading_paused and p.buffered < _LOW_WATER and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()

    async def wait(self, within: float | None) -> None:
        """Until more bytes, EOF or an error; ReadTimeout after `within` seconds."""
        self._waiter = self._loop.create_future()
        try:
            await _settled(self._waiter, within)
        except TimeoutError as exc:
            self.close()
            raise httpx.ReadTimeout("le service n'a pas répondu à temps") from exc
        finally:
            self._waiter = None

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise _StaleConnection
        self.transport.write(data)

    async def drain(self, within: float | None) -> None:
        if self.closed:
            raise _StaleConnection
        if not self._write_paused:
            return
        self._drain_waiter = self._loop.create_future()
        try:
            await _settled(self._drain_waiter, within)
        except TimeoutError as exc:
            raise httpx.WriteTimeout("le service ne lit pas la requête à temps") from exc
        finally:
            self._drain_waiter = None
        if self.closed:
            raise _StaleConnection


def _timeouts(request: httpx.Request) -> Mapping[str, float | None]:
    value = request.extensions.get("timeout")
    return value if isinstance(value, dict) else {}


class RawResponse(httpx.AsyncByteStream):
    """Status, headers (names lowercased), and the body as an async iterator (aclose()
    returns the connection to the pool once the body is complete, else closes it)."""

    def __init__(
        self,
        pool: FastTransport,
        conn: _Connection,
        parser: _Parser,
        status: int,
        read_timeout: float | None,
        until_eof: bool,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.headers = parser.headers
        self._pool = pool
        self._conn = conn
        self._parser = parser
        self._read_timeout = read_timeout
        self._until_eof = until_eof
        self._keep_alive = keep_alive
        self._released = False

    def complete(self) -> bool:
        """Every byte of the body has been handed out."""
        return self._parser.complete and not self._parser.body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        p, conn = self._parser, self._conn
        while True:
            while p.body:
                chunk = p.body.popleft()
                p.buffered -= len(chunk)
                conn.consumed(p)
                yield chunk
            if p.complete:
                break
            if conn.error is not None:
                raise conn.error
            if conn.eof:
                if self._until_eof:
                    p.complete = True
                    self._keep_alive = False
                    continue
                conn.close()
                raise httpx.RemoteProtocolError(
                    "le service a fermé la connexion en cours de réponse"
                )
            await conn.wait(self._read_timeout)
        await self.aclose()

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        reusable = self._parser.complete and self._keep_alive and conn.usable()
        if reusable:
            conn.parser = None
        self._pool._release(conn, reusable)


class FastTransport(httpx.AsyncBaseTransport):
    """One origin's keep-alive pool (`max_connections` open at most, `max_keepalive` idle)."""

    def __init__(self, *, max_connections: int = 100, max_keepalive: int = 100) -> None:
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None
        self._max_keepalive = max_keepalive
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def __aenter__(self) -> FastTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not self._closed and len(self._idle) < self._max_keepalive:
            self._idle.append(conn)
        else:
            conn.close()
        if self._slots is not None:
            self._slots.release()

    async def _acquire(self, timeouts: Mapping[str, float | None]) -> None:
        if self._slots is None:
            return
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: returns at once
            return
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("aucune connexion libre vers le service") from exc

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # most recent first: the likeliest still open
            if conn.usable():
                return conn
            conn.close()
        return None

    async def _connect(self, host: str, port: int, within: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                transport, conn = await loop.create_connection(_Connection, host, port)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connexion à {host}:{port} trop lente") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        # (uvloop may resolve create_connection before calling connection_made.)
        conn.transport = transport
        return conn

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                "les services se joignent en HTTP sur le réseau interne"
            )
        stream = request.stream
        body: bytes | AsyncIterable[bytes]
        if isinstance(stream, httpx.ByteStream):
            body = b"".join(stream)
        else:
            assert isinstance(stream, httpx.AsyncByteStream), "async requests only"
            body = stream
        # httpx frames a body of unknown length as chunked: the transport says so itself.
        headers = [h for h in request.headers.raw if h[0].lower() != b"transfer-encoding"]
        chunked = len(headers) < len(request.headers.raw)
        raw = await self.exchange(
            url.host,
            url.port or 80,
            request.method.encode("ascii"),
            url.raw_path,
            headers,
            body,
            _timeouts(request),
            chunked=chunked,
        )
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=raw,
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def exchange(
        self,
        host: str,
        port: int,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterable[bytes],
        timeouts: Mapping[str, float | None],
        *,
        chunked: bool = False,
    ) -> RawResponse:
        """The proxy's entry point (no httpx.Request/Response to build): `headers` must
        hold Host and, for a body of known length, its Content-Length; a `chunked` body
        is sent with the Transfer-Encoding header this writes."""
        if self._closed:
            raise httpx.ConnectError("transport fermé")
        await self._acquire(timeouts)
        try:
            return await self._send(host, port, method, target, headers, body, timeouts, chunked)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    async def _send(
        self,
        host: str,
        port: int,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterable[bytes],
        timeouts: Mapping[str, float | None],
        chunked: bool,
    ) -> RawResponse:
        head_bytes = b"%s %s HTTP/1.1\r\n%s%s\r\n" % (
            method,
            target,
            b"".join([b"%s: %s\r\n" % header for header in headers]),
            b"transfer-encoding: chunked\r\n" if chunked else b"",
        )
        if isinstance(body, bytes) and chunked:
            body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
        while True:
            reused = True
            conn = self._idle_connection()
            if conn is None:
                reused = False
                conn = await self._connect(host, port, timeouts.get("connect"))
            p = conn.parser = _Parser()
            try:
                if isinstance(body, bytes):
                    # A body already in memory goes with the head in one write.
                    conn.write(head_bytes + body if body else head_bytes)
                    await conn.drain(timeouts.get("write"))
                else:
                    conn.write(head_bytes)
                    await self._write_stream(conn, body, chunked, timeouts.get("write"))
                return await self._response(conn, p, method, timeouts.get("read"))
            except _StaleConnection:
                # The service closed a kept-alive connection just as we reused it: nothing
                # was processed, so a body held in memory can be sent again on a new one.
                conn.close()
                if not reused or not isinstance(body, bytes):
                    raise httpx.RemoteProtocolError(
                        "le service a fermé la connexion sans répondre"
                    ) from None
            except BaseException:
                conn.close()
                raise

    async def _write_stream(
        self,
        conn: _Connection,
        stream: AsyncIterable[bytes],
        chunked: bool,
        within: float | None,
    ) -> None:
        async for chunk in stream:
            if not chunk:
                continue
            if chunked:
                conn.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                conn.write(chunk)
            await conn.drain(within)
        if chunked:
            conn.write(b"0\r\n\r\n")
            await conn.drain(within)

    async def _response(
        self, conn: _Connection, p: _Parser, method: bytes, read_timeout: float | None
    ) -> RawResponse:
        while not p.headers_done:
            if conn.error is not None:
                raise conn.error
            if conn.eof:
                if not p.got_bytes:
                    raise _StaleConnection
                raise httpx.RemoteProtocolError(
                    "le service a fermé la connexion en cours de réponse"
                )
            await conn.wait(read_timeout)
        parser = p.parser
        status = parser.get_status_code()
        # (llhttp's should_keep_alive() is only meaningful once the message is complete.)
        keep_alive = parser.get_http_version() == "1.1" and not any(
            b"close" in v.lower() for v in p.connection
        )
        no_body = method == b"HEAD" or status in _NO_BODY_STATUS or status < 200
        if no_body:
            p.complete = True
            p.body.clear()
        until_eof = not p.complete and not no_body and not p.framed
        return RawResponse(self, conn, p, status, read_timeout, until_eof, keep_alive)


class _StaleConnection(Exception):
    """A reused connection closed before any byte of the response."""
