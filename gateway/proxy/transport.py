"""A lean HTTP/1.1 keep-alive transport behind the httpx API, for the gateway's proxy.

httpx's default transport (httpcore + h11, pure Python, with a general-purpose pool)
cost the gateway ~0.85 ms of CPU per proxied request; this one parses with httptools
(llhttp, the parser uvicorn itself runs) over asyncio streams and keeps one small pool
per service. It speaks only what the proxy needs: plain HTTP/1.1 to one origin,
streaming request bodies (Content-Length or chunked) and streaming responses with
backpressure (the stream reader pauses the socket when its buffer is full).

Failures surface as httpx exceptions so callers keep their mapping: ConnectTimeout,
ConnectError, PoolTimeout, ReadTimeout, WriteTimeout, ReadError/WriteError,
RemoteProtocolError.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from types import TracebackType

import httptools
import httpx

_READ_SIZE = 256 * 1024  # fewer, larger ASGI sends for big downloads
_STREAM_LIMIT = 512 * 1024  # the reader pauses the socket above ~2x this
_NO_BODY_STATUS = frozenset({204, 304})


class _Connection:
    __slots__ = ("closed", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    def usable(self) -> bool:
        # A peer that closed an idle connection has fed EOF to the reader.
        return not self.closed and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


class _Parser:
    """httptools callbacks: status and headers, then body chunks as they arrive."""

    __slots__ = ("body", "complete", "headers", "headers_done", "parser")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: deque[bytes] = deque()
        self.headers_done = False
        self.complete = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def _timeouts(request: httpx.Request) -> Mapping[str, float | None]:
    value = request.extensions.get("timeout")
    return value if isinstance(value, dict) else {}


class RawResponse(httpx.AsyncByteStream):
    """Status, raw headers, and the body as an async iterator (aclose() returns the
    connection to the pool once the body is complete, else closes it)."""

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

    async def __aiter__(self) -> AsyncIterator[bytes]:
        p = self._parser
        while True:
            while p.body:
                yield p.body.popleft()
            if p.complete:
                break
            data = await _read(self._conn, self._read_timeout)
            if not data:
                if self._until_eof:
                    p.complete = True
                    self._keep_alive = False
                    continue
                self._conn.close()
                raise httpx.RemoteProtocolError(
                    "le service a fermé la connexion en cours de réponse"
                )
            _feed(p, data)
        await self.aclose()

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        reusable = self._parser.complete and self._keep_alive and self._conn.usable()
        self._pool._release(self._conn, reusable)


async def _read(conn: _Connection, within: float | None) -> bytes:
    try:
        async with asyncio.timeout(within):
            return await conn.reader.read(_READ_SIZE)
    except TimeoutError as exc:
        conn.close()
        raise httpx.ReadTimeout("le service n'a pas répondu à temps") from exc
    except OSError as exc:
        conn.close()
        raise httpx.ReadError(str(exc)) from exc


def _feed(p: _Parser, data: bytes) -> None:
    try:
        p.parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"réponse HTTP invalide : {exc}") from exc


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
            conn = self._idle.pop()
            conn.close()
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

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
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(host, port, limit=_STREAM_LIMIT)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connexion à {host}:{port} trop lente") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return _Connection(reader, writer)

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
        raw = await self.exchange(
            url.host,
            url.port or 80,
            request.method.encode("ascii"),
            url.raw_path,
            request.headers.raw,
            body,
            _timeouts(request),
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
    ) -> RawResponse:
        """The proxy's entry point (no httpx.Request/Response to build): `headers` must
        hold Host and the body's framing (Content-Length or Transfer-Encoding: chunked)."""
        if self._closed:
            raise httpx.ConnectError("transport fermé")
        await self._acquire(timeouts)
        try:
            return await self._send(host, port, method, target, headers, body, timeouts)
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
    ) -> RawResponse:
        head = [method, b" ", target, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in headers:
            if name.lower() == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        head_bytes = b"".join(head)
        if isinstance(body, bytes) and chunked:
            body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
        while True:
            reused = True
            conn = self._idle_connection()
            if conn is None:
                reused = False
                conn = await self._connect(host, port, timeouts.get("connect"))
            try:
                if isinstance(body, bytes):
                    # A body already in memory goes with the head in one write.
                    conn.writer.write(head_bytes + body if body else head_bytes)
                    await _drain(conn, timeouts.get("write"))
                else:
                    conn.writer.write(head_bytes)
                    await self._write_stream(conn, body, chunked, timeouts.get("write"))
                return await self._response(conn, method, timeouts.get("read"))
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
        writer = conn.writer
        async for chunk in stream:
            if not chunk:
                continue
            if chunked:
                writer.write(b"%x\r\n" % len(chunk))
                writer.write(chunk)
                writer.write(b"\r\n")
            else:
                writer.write(chunk)
            await _drain(conn, within)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await _drain(conn, within)

    async def _response(
        self, conn: _Connection, method: bytes, read_timeout: float | None
    ) -> RawResponse:
        p = _Parser()
        got_bytes = False
        while not p.headers_done:
            try:
                data = await _read(conn, read_timeout)
            except httpx.ReadError:
                if got_bytes:
                    raise
                raise _StaleConnection from None
            if not data:
                if not got_bytes:
                    raise _StaleConnection
                raise httpx.RemoteProtocolError(
                    "le service a fermé la connexion en cours de réponse"
                )
            got_bytes = True
            _feed(p, data)
        parser = p.parser
        status = parser.get_status_code()
        # (llhttp's should_keep_alive() is only meaningful once the message is complete.)
        keep_alive = parser.get_http_version() == "1.1" and not any(
            n.lower() == b"connection" and b"close" in v.lower() for n, v in p.headers
        )
        no_body = method == b"HEAD" or status in _NO_BODY_STATUS or status < 200
        if no_body:
            p.complete = True
            p.body.clear()
        until_eof = False
        if not p.complete and not no_body:
            framed = any(
                n.lower() in (b"content-length", b"transfer-encoding") for n, _ in p.headers
            )
            until_eof = not framed
        return RawResponse(self, conn, p, status, read_timeout, until_eof, keep_alive)


class _StaleConnection(Exception):
    """A reused connection closed before any byte of the response."""


async def _drain(conn: _Connection, within: float | None) -> None:
    try:
        async with asyncio.timeout(within):
            await conn.writer.drain()
    except TimeoutError as exc:
        raise httpx.WriteTimeout("le service ne lit pas la requête à temps") from exc
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _StaleConnection from exc
    except OSError as exc:
        raise httpx.WriteError(str(exc)) from exc
