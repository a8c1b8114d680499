"""A minimal asyncio HTTP/1.1 client for the load driver (loopback only).

httpx costs the driver ~150-250 µs of CPU per request (connection pool, header models,
response objects); at c=32 on a small machine that CPU is taken from the servers being
measured. This client keeps one persistent connection per worker and does nothing but
write the request bytes and read the response framing. `coop bench run` measures both
clients against the same trivial endpoint and reports the figures (`client` section).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

_CHUNK = 256 * 1024


class HttpError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    # Bytes received for the body (also set when the body was discarded).
    size: int


class Connection:
    """One keep-alive HTTP/1.1 connection to one origin (not shared between tasks)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the benchmark only talks to loopback addresses")
        self.host = parts.hostname
        self.port = parts.port or 80
        self._host_header = f"{self.host}:{self.port}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=_CHUNK
            )
        return self._reader, self._writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        keep_body: bool = True,
    ) -> Response:
        try:
            return await self._request(method, path, headers or {}, body, keep_body)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            # The server closed an idle keep-alive connection: one retry on a fresh one.
            await self.close()
            return await self._request(method, path, headers or {}, body, keep_body)

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: bytes, keep_body: bool
    ) -> Response:
        reader, writer = await self._connect()
        head = [f"{method} {path} HTTP/1.1".encode(), b"host: " + self._host_header]
        head.extend(f"{k}: {v}".encode() for k, v in headers.items())
        if body or method in {"POST", "PUT", "PATCH"}:
            head.append(b"content-length: " + str(len(body)).encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        if body:
            writer.write(body)
        await writer.drain()
        raw_head = await reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        resp_headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                resp_headers[name.strip().lower()] = value.strip()
        chunks: list[bytes] = []
        size = 0
        if "content-length" in resp_headers:
            size = await _read_exactly(
                reader, int(resp_headers["content-length"]), chunks, keep_body
            )
        elif resp_headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                line_b = await reader.readuntil(b"\r\n")
                length = int(line_b.split(b";", 1)[0].strip(), 16)
                if length == 0:
                    await reader.readuntil(b"\r\n")
                    break
                size += await _read_exactly(reader, length, chunks, keep_body)
                await reader.readexactly(2)
        elif status not in (204, 304) and method != "HEAD":
            raise HttpError("response without length framing")
        if resp_headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, resp_headers, b"".join(chunks), size)


async def _read_exactly(
    reader: asyncio.StreamReader, length: int, chunks: list[bytes], keep: bool
) -> int:
    """Read `length` body bytes in chunks (kept in `chunks` only when `keep`)."""
    remaining = length
    while remaining:
        data = await reader.read(min(remaining, _CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(data)
        if keep:
            chunks.append(data)
    return length
