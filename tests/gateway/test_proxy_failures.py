"""A service that answers badly, through the whole gateway (real transport, real socket).

Before the response started: a problem the client can read (502, 504). After: the
gateway gives up the response rather than end it as if it were complete. A client who
leaves mid-upload leaves nothing behind: the service's connection is closed, its pool
slot given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.gateway.upstream import Handler, answering, gateway_over, read_request
from tests.support.asgi import http_scope
from tests.support.problems import assert_problem

MIB = 1024 * 1024


@asynccontextmanager
async def gateway_before(
    tmp_path: Path, handler: Handler | None, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The gateway whose conventions service is `handler`, a client and a valid token."""
    async with gateway_over(tmp_path, handler, **overrides) as (app, token):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client, token


async def test_an_invalid_reply_is_a_502_problem(tmp_path: Path) -> None:
    garbage = answering(b"this is not HTTP\r\n\r\n")
    async with gateway_before(tmp_path, garbage) as (client, token):
        response = await client.get("/api/v1/conventions", headers=token)
    problem = assert_problem(response, 502)
    assert problem["detail"] == "Le service conventions a interrompu la réponse."


async def test_a_reply_cut_after_its_headers_is_never_passed_on_as_complete(
    tmp_path: Path,
) -> None:
    truncated = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
    async with gateway_before(tmp_path, truncated) as (client, token):
        # The status line is gone already: the gateway raises so the server cuts the
        # client's connection (in process, the error reaches the client as is).
        with pytest.raises(aiohttp.ClientPayloadError):
            await client.get("/api/v1/conventions", headers=token)


async def test_a_small_body_is_sent_again_when_the_kept_alive_connection_was_closed(
    tmp_path: Path,
) -> None:
    connections = 0

    async def closes_after_one_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # The first connection answers once, then closes on the next request unanswered
        # (the service closed it for idleness just as the gateway reused it).
        nonlocal connections
        connections += 1
        first_connection = connections == 1
        while True:
            head, body = await read_request(reader)
            if not head:
                return
            if first_connection and b"second" in body:
                return
            payload = b"echo:" + body
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            await writer.drain()

    async with gateway_before(tmp_path, closes_after_one_answer) as (client, token):
        first = await client.post("/api/v1/conventions", headers=token, content=b"first")
        second = await client.post("/api/v1/conventions", headers=token, content=b"second")
    assert first.content == b"echo:first"
    assert second.status_code == 200
    assert second.content == b"echo:second"
    assert connections == 2


async def test_a_service_without_an_address_is_a_503_problem(tmp_path: Path) -> None:
    async with gateway_before(tmp_path, None) as (client, token):  # only conventions is set
        response = await client.get("/api/v1/documents", headers=token)
    problem = assert_problem(response, 503)
    assert problem["detail"] == "Le service documents n'est pas configuré."


async def test_a_service_that_stops_reading_an_upload_is_a_504_problem(tmp_path: Path) -> None:
    stop_reading = asyncio.Event()

    async def reads_the_head_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await stop_reading.wait()  # the body fills the socket buffers, then waits

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 MiB: more than loopback's buffers hold
            yield b"x" * MIB

    async with gateway_before(
        tmp_path,
        reads_the_head_only,
        proxy_write_timeout_seconds=0.3,
        max_body_bytes=128 * MIB,
    ) as (client, token):
        headers = {**token, "content-length": str(64 * MIB)}
        response = await client.post("/api/v1/conventions", headers=headers, content=body())
        stop_reading.set()
    problem = assert_problem(response, 504)
    assert problem["detail"] == "Le service conventions a mis trop de temps à répondre."


async def test_a_client_leaving_mid_upload_frees_the_service_connection(
    tmp_path: Path,
) -> None:
    first_closed = asyncio.Event()
    connections = 0

    async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            await reader.readuntil(b"\r\n\r\n")
            while await reader.read(65536):  # the part of the body that came, then EOF
                pass
            first_closed.set()
            return
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    # One connection to the service at most: the next request needs the slot back.
    async with gateway_over(tmp_path, service, proxy_max_connections=1) as (app, token):
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": b"x" * 65536, "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = {**token, "content-length": str(MIB)}
        await app(http_scope("POST", "/api/v1/conventions", headers, app=app), receive, send)
        assert sent == []  # nobody is left to answer
        await asyncio.wait_for(first_closed.wait(), 5)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            after = await client.get("/api/v1/conventions", headers=token)
    assert after.status_code == 200
    assert after.content == b"ok"
    assert connections == 2
