"""The proxy's HTTP/1.1 transport against a real asyncio server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.proxy.transport import FastTransport
from tests.gateway.upstream import Upstream, read_request


async def test_sequential_requests_reuse_one_kept_alive_connection() -> None:
    async with Upstream() as up, httpx.AsyncClient(transport=FastTransport()) as client:
        for n in range(3):
            response = await client.post(up.url + "/x?n=1", content=b"abc%d" % n)
            assert response.status_code == 200
            assert response.content == b"echo:abc%d" % n
        assert up.connections == 1
        assert up.requests[0][0].startswith(b"POST /x?n=1 HTTP/1.1\r\n")


async def test_a_body_of_unknown_length_is_sent_chunked_and_arrives_whole() -> None:
    parts = [b"a" * 70_000, b"b" * 10, b"c" * 100_000]

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async with Upstream() as up, httpx.AsyncClient(transport=FastTransport()) as client:
        response = await client.post(up.url + "/upload", content=body())
        assert response.status_code == 200
        assert up.requests[0][1] == b"".join(parts)


async def test_a_kept_alive_connection_closed_by_the_service_is_replaced() -> None:
    served = 0

    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # Closes right after answering, as a server whose keep-alive timeout passed.

    async with (
        Upstream(one_per_connection) as up,
        httpx.AsyncClient(transport=FastTransport()) as client,
    ):
        for _ in range(3):
            response = await client.get(up.url + "/")
            assert response.text == "ok"
            await asyncio.sleep(0.01)  # the close reaches us
        assert served == 3
        assert up.connections == 3


async def test_a_head_response_with_a_length_but_no_body_does_not_hang() -> None:
    async def head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request, _ = await read_request(reader)
            if not request:
                return
            status = b"200 OK" if request.startswith(b"HEAD") else b"204 No Content"
            length = b"content-length: 1000\r\n" if request.startswith(b"HEAD") else b""
            writer.write(b"HTTP/1.1 " + status + b"\r\n" + length + b"\r\n")
            await writer.drain()

    async with Upstream(head) as up, httpx.AsyncClient(transport=FastTransport()) as client:
        response = await client.head(up.url + "/doc")
        assert response.status_code == 200
        assert response.headers["content-length"] == "1000"
        assert (await client.delete(up.url + "/doc")).status_code == 204
        assert up.connections == 1


async def test_a_large_response_streams_in_pieces_and_arrives_intact() -> None:
    size = 8 * 1024 * 1024

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        block = bytes(range(256)) * 256
        for _ in range(size // len(block)):
            writer.write(b"%x\r\n%s\r\n" % (len(block), block))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with Upstream(big) as up, httpx.AsyncClient(transport=FastTransport()) as client:
        async with client.stream("GET", up.url + "/big") as response:
            pieces = [len(chunk) async for chunk in response.aiter_raw()]
        assert sum(pieces) == size
        assert len(pieces) > 1


async def test_a_silent_service_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up

    async with Upstream(silent) as up:
        async with httpx.AsyncClient(transport=FastTransport(), timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(up.url + "/slow")
        port = up.port
    async with httpx.AsyncClient(transport=FastTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/gone")


async def test_a_response_cut_short_is_a_protocol_error() -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await writer.drain()

    async with Upstream(truncated) as up, httpx.AsyncClient(transport=FastTransport()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(up.url + "/cut")
