"""The server every app runs on (granian, as kernel.server configures it): responses
whole and in order, a worker count, metrics off the public port, periodic work in one
worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from coop.ports import free_port
from tests.support.served import served

BIG = bytes(range(256)) * (5 * 4096)  # 5 MiB, every byte value


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


def _workers(server: psutil.Process) -> list[psutil.Process]:
    """A server's worker processes (not multiprocessing's resource tracker)."""
    return [
        child for child in server.children() if "resource_tracker" not in " ".join(child.cmdline())
    ]


def test_coop_serve_runs_its_workers_and_exports_their_metrics_off_the_public_port(
    tmp_path: Path,
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COOP_")},
        "DATABASE_URL": "postgresql://coop:unused@127.0.0.1:9/unused",  # the IdP has none
        "COOP_IDP_KEY_DIR": str(tmp_path),
        "COOP_IDP_PORT": str(port),
        "COOP_IDP_METRICS_PORT": str(metrics_port),
        "COOP_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "coop.cli", "serve", "idp", "--workers", "2"], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "coop serve exited"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.1)
        assert len(_workers(psutil.Process(server.pid))) == 2
        with httpx.Client(base_url=url) as client:
            for _ in range(20):
                assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 404
        # Every worker's requests, added up by the exporter (one in the readiness loop).
        internal = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        served_line = (
            'coop_http_requests_total{app="idp",method="GET",route="/healthz",status="200"}'
        )
        counted = next(line for line in internal.splitlines() if line.startswith(served_line))
        assert float(counted.split()[-1]) >= 21
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
