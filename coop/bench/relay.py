"""The bare relay: the hop the gateway adds, with nothing of the gateway's own work.

The gateway's two targets compare it with its service called directly, and on a small
machine part of what they see is the hop itself: one more process sharing the cores,
two more loopback exchanges and wake-ups per request. This relay measures that part.
It forwards each request as received (the caller's internal token included), with the
gateway's own upstream client (an aiohttp session per service), and answers with the
service's bytes. No ASGI server, no authentication, no log, no metric, no header
policy: an asyncio protocol on uvloop with httptools, the least Python can do for one
hop.

`gateway / relay` then reads as the gateway's own cost, and `relay / direct` as what
any proxy in Python costs on this machine. One process serves a port per service.
Reads and small writes only (bodies are held whole, answers too): the bench's
transfers have their own raw-streaming variant.
"""

from __future__ import annotations

import asyncio
import functools
from http import HTTPStatus
from typing import cast

import aiohttp
import httptools
import uvloop
from yarl import URL

from gateway.proxy.forward import build_client

# Never passed on: they describe this hop's connection or its framing, redone here.
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host"})


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class Relay(asyncio.Protocol):
    """One client connection, its requests forwarded one at a time to one service."""

    def __init__(self, upstream: aiohttp.ClientSession, port: int) -> None:
        self._upstream = upstream
        self._origin = f"http://127.0.0.1:{port}"
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        # Answers leave in the order requests came, should a client pipeline.
        self._previous: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._answer(400, [], b"")
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name not in _HOP:
            self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        body = b"".join(self._body)
        headers = self._headers
        if body or method in (b"POST", b"PUT", b"PATCH"):
            headers.append((b"content-length", b"%d" % len(body)))
        self._previous = asyncio.get_running_loop().create_task(
            self._forward(self._previous, method, self._url, headers, body)
        )

    async def _forward(
        self,
        previous: asyncio.Task[None] | None,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        try:
            async with self._upstream.request(
                method.decode("ascii"),
                URL(self._origin + target.decode("latin-1"), encoded=True),
                headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
                data=body or None,
                allow_redirects=False,
            ) as response:
                content = await response.read()
                status = response.status
                raw = response.raw_headers
        except aiohttp.ClientError:
            status, kept, content = 502, [], b""
        else:
            kept = [(n.lower(), v) for n, v in raw if n.lower() not in _HOP]
        if previous is not None:
            await previous
        self._answer(status, kept, content)

    def _answer(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        if self._transport is None:
            return
        self._transport.write(
            b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\n\r\n%s"
            % (
                status,
                _reason(status),
                b"".join([b"%s: %s\r\n" % header for header in headers]),
                len(content),
                content,
            )
        )


async def start(routes: dict[int, int]) -> list[tuple[asyncio.Server, aiohttp.ClientSession]]:
    """A listening server per route (listen port → service port, 0: any free port), each
    with its service's own pool, as the gateway keeps them."""
    loop = asyncio.get_running_loop()
    started = []
    for listen_port, service_port in routes.items():
        pool = build_client(
            connect=5.0, read=60.0, write=60.0, pool=5.0, max_connections=100, keepalive=5.0
        ).session
        server = await loop.create_server(
            functools.partial(Relay, pool, service_port), "127.0.0.1", listen_port
        )
        started.append((server, pool))
    return started


async def _serve(routes: dict[int, int]) -> None:
    started = await start(routes)
    await asyncio.gather(*(server.serve_forever() for server, _ in started))


def serve(routes: dict[int, int]) -> None:
    """Relay each port of `routes` (listen port → service port) on loopback, forever."""
    uvloop.run(_serve(routes))
