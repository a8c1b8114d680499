"""The bare relay forwards requests as received and answers with the service's bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coop.bench.http import Connection
from coop.bench.relay import start
from coop.ports import free_port
from tests.support.served import served


async def echo(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("wait", "0")))
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "authorization": request.headers.get("authorization"),
            "host": request.headers.get("host"),
            "body": (await request.body()).decode(),
        },
        status_code=int(request.query_params.get("status", "200")),
        headers={"x-from-service": "oui"},
    )


async def _relay_to(service_port: int) -> tuple[asyncio.Server, aiohttp.ClientSession, str]:
    ((server, upstream),) = await start({0: service_port})
    port = server.sockets[0].getsockname()[1]
    return server, upstream, f"http://127.0.0.1:{port}"


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
async def relay() -> AsyncIterator[str]:
    async with served(
        Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    ) as url:
        server, upstream, relay_url = await _relay_to(_port(url))
        try:
            yield relay_url
        finally:
            server.close()
            await upstream.close()


async def test_a_request_is_forwarded_as_received(relay: str) -> None:
    conn = Connection(relay)
    try:
        resp = await conn.request(
            "POST", "/api/v1/x?limit=5&status=201", {"authorization": "Bearer interne"}, b"corps"
        )
    finally:
        await conn.close()
    assert resp.status == 201
    assert resp.headers["x-from-service"] == "oui"
    seen = json.loads(resp.body)
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/v1/x"
    assert seen["query"] == "limit=5&status=201"
    assert seen["authorization"] == "Bearer interne"
    assert seen["body"] == "corps"
    assert seen["host"].startswith("127.0.0.1:")  # the service's own, not the relay's
    assert not seen["host"].endswith(relay.rsplit(":", 1)[1])


async def test_answers_keep_the_order_of_pipelined_requests(relay: str) -> None:
    host = relay.removeprefix("http://")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    try:
        # The first waits at the service, the second does not: answers stay in order.
        writer.write(
            f"GET /first?wait=0.2 HTTP/1.1\r\nhost: {host}\r\n\r\n"
            f"GET /second HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()
        )
        paths = []
        for _ in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            paths.append(json.loads(await reader.readexactly(length))["path"])
    finally:
        writer.close()
    assert paths == ["/first", "/second"]


async def test_an_unreachable_service_is_a_502() -> None:
    server, upstream, relay_url = await _relay_to(free_port())
    conn = Connection(relay_url)
    try:
        resp = await conn.request("GET", "/healthz")
    finally:
        await conn.close()
        server.close()
        await upstream.close()
    assert resp.status == 502
    assert resp.body == b""


async def test_each_route_reaches_its_own_service() -> None:
    async def named(request: Request) -> Response:
        return Response(request.app.state.name.encode())

    one, two = Starlette(routes=[Route("/", named)]), Starlette(routes=[Route("/", named)])
    one.state.name, two.state.name = "un", "deux"
    async with served(one) as url_one, served(two) as url_two:
        started = await start({free_port(): _port(url_one), free_port(): _port(url_two)})
        try:
            answers = []
            for _ in range(2):  # the second round finds kept-alive connections idle
                for server, _pool in started:
                    conn = Connection(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
                    answers.append((await conn.request("GET", "/")).body)
                    await conn.close()
        finally:
            for server, pool in started:
                server.close()
                await pool.close()
    assert answers == [b"un", b"deux", b"un", b"deux"]


async def test_a_request_it_cannot_parse_is_a_400_and_the_connection_closes(relay: str) -> None:
    reader, writer = await asyncio.open_connection(*relay.removeprefix("http://").split(":"))
    try:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await reader.read()  # until the relay closes
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"content-length: 0\r\n\r\n")
