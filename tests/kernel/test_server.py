"""kernel.server: each response leaves in one send, and every byte still arrives in order."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from coop.stack import free_port
from kernel.server import CoalescingTransport, HttpProtocol
from tests.support.served import served

BIG = bytes(range(256)) * (5 * 4096)  # 5 MiB, every byte value


class SocketWrites(asyncio.Transport):
    """Stands for the socket under the transport: what each write call handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


async def next_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_loop_step_leave_in_one_call_in_order() -> None:
    socket_writes = SocketWrites()
    transport = CoalescingTransport(socket_writes, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
    transport.write(b"")  # nothing to send: not a write of its own
    transport.write(b"body")
    assert socket_writes.calls == []
    assert transport.get_write_buffer_size() == 42
    await next_step()
    assert socket_writes.calls == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"]
    transport.write(b"next step")
    await next_step()
    assert socket_writes.calls[1:] == [b"next step"]
    assert transport.get_write_buffer_size() == 0


async def test_closing_sends_what_is_held_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    closed = SocketWrites()
    transport = CoalescingTransport(closed, loop)
    transport.write(b"last response")
    transport.close()
    assert closed.calls == [b"last response"]
    assert closed.closed
    await next_step()  # the scheduled flush finds nothing more to send
    assert closed.calls == [b"last response"]

    half_closed = SocketWrites()
    transport = CoalescingTransport(half_closed, loop)
    transport.write(b"bye")
    transport.write_eof()
    assert half_closed.calls == [b"bye"]
    assert half_closed.eof

    aborted = SocketWrites()
    transport = CoalescingTransport(aborted, loop)
    transport.write(b"never sent")
    transport.abort()
    await next_step()
    assert aborted.calls == []
    assert aborted.aborted


async def _json(request: Request) -> Response:
    return JSONResponse({"n": int(request.query_params.get("n", "0"))})


async def _streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(50):
            await asyncio.sleep(0)  # each chunk in a later loop step
            yield b"%03d," % i

    return StreamingResponse(chunks(), media_type="text/plain")


async def _big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def _nothing(request: Request) -> Response:
    return Response(status_code=204)


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def _closing(request: Request) -> Response:
    return Response(b"closing", headers={"connection": "close"})


APP = Starlette(
    routes=[
        Route("/json", _json),
        Route("/streamed", _streamed),
        Route("/big", _big, methods=["GET", "HEAD"]),
        Route("/nothing", _nothing),
        Route("/echo", _echo, methods=["POST"]),
        Route("/closing", _closing),
    ]
)


@pytest.fixture
async def served_app() -> AsyncIterator[str]:
    async with served(APP) as url:
        yield url


async def test_responses_arrive_whole_on_one_kept_alive_connection(served_app: str) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=served_app, limits=limits) as client:
        for n in range(5):
            assert (await client.get("/json", params={"n": n})).json() == {"n": n}
        streamed = await client.get("/streamed")
        assert streamed.text == "".join(f"{i:03d}," for i in range(50))
        big = await client.get("/big")
        assert big.content == BIG
        head = await client.head("/big")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(BIG))
        nothing = await client.get("/nothing")
        assert nothing.status_code == 204
        assert nothing.content == b""
        echoed = await client.post("/echo", content=BIG[:1_000_000])
        assert echoed.content == BIG[:1_000_000]
        assert (await client.get("/json", params={"n": 9})).json() == {"n": 9}


async def test_a_closing_response_is_sent_whole_before_the_close(served_app: str) -> None:
    host, port = served_app.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /closing HTTP/1.1\r\nhost: x\r\n\r\n")
    received = await reader.read()  # until the server closes
    writer.close()
    await writer.wait_closed()
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"\r\n\r\nclosing")


async def test_pipelined_requests_get_their_responses_in_order(served_app: str) -> None:
    host, port = served_app.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /json?n=1 HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /json?n=2 HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /closing HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    received = await reader.read()
    writer.close()
    await writer.wait_closed()
    first, second, third = (
        received.index(b'{"n":1}'),
        received.index(b'{"n":2}'),
        received.index(b"closing"),
    )
    assert first < second < third
    assert received.count(b"HTTP/1.1 200 OK") == 3


def test_a_complete_response_leaves_before_the_app_returns() -> None:
    """What an app does after its last send (access log, metrics) runs in the same loop
    step; the response must not wait for it. Here that work blocks the server's loop
    until the client holds the whole response: before the response left at the end of
    the step, the client never got it and the read timed out."""
    released = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        released.wait(10)  # blocks the loop on purpose: the app's after-work

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, http=HttpProtocol, lifespan="off", log_level="error"
        )
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
            received = b""
            try:
                while not received.endswith(b"\r\n\r\nok"):
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    received += chunk
            finally:
                released.set()
    finally:
        server.should_exit = True
        thread.join(10)
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b"\r\n\r\nok")
