"""A minimal HTTP/1.1 server on loopback, scripted per test (the proxy's transport tests),
and the gateway in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from gateway.app import create_app
from tests.gateway.conftest import gateway_settings
from tests.gateway.support import StaticGrantResolver, bearer, claims, running_idp, sign

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A minimal HTTP/1.1 server: counts connections, records request heads and bodies."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self._handler = handler
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self._handler is not None:
                await self._handler(reader, writer)
                return
            while True:
                head, body = await read_request(reader)
                if not head:
                    return
                self.requests.append((head, body))
                payload = b"echo:" + body
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b"", b""
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)
    body = b""
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return head, body


def answering(*parts: bytes, pause: float = 0.05) -> Handler:
    """A service that reads one request and writes `parts` as they are, `pause`
    seconds apart (each part its own segment)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for i, part in enumerate(parts):
            if i:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()

    return handler


@asynccontextmanager
async def gateway_over(
    tmp_path: Path, handler: Handler | None, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, dict[str, str]]]:
    """The gateway app (lifespan running) whose conventions service is `handler`, and
    the headers of a caller with a valid token. `overrides` are gateway settings."""
    async with running_idp(tmp_path) as (idp, idp_transport), Upstream(handler) as up:
        settings = gateway_settings(
            service_urls={"conventions": up.url}, rate_limit_enabled=False, **overrides
        )
        app = create_app(
            settings, grant_resolver=StaticGrantResolver(), oidc_transport=idp_transport
        )
        async with app.router.lifespan_context(app):
            yield app, bearer(sign(idp.state.key_store, claims("p-1")))
