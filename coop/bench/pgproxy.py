"""A PostgreSQL wire-protocol relay that counts database round trips.

Every time the client has to wait for the server, the server ends its answer with a
ReadyForQuery message ('Z'): after a simple query, after the Sync of an extended
query (asyncpg's prepare, bind+execute), after BEGIN, COMMIT, ROLLBACK. Counting 'Z'
messages per client application (the `application_name` of the startup packet, e.g.
``coop-actions``) therefore counts round trips exactly, whatever the client library
does above the wire. Used only in the round-trip phase: apps run in-process with their
engine pointed at this relay; the load phases never go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from urllib.parse import parse_qs, urlsplit

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


def upstream_address(dsn: str) -> tuple[str, int] | str:
    """(host, port) or the Unix socket path of a ``postgresql[+asyncpg]://`` URL."""
    parts = urlsplit(dsn)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    port = parts.port or 5432
    if socket_dir.startswith("/"):
        return f"{socket_dir}/.s.PGSQL.{port}"
    return (parts.hostname or "127.0.0.1", port)


def proxied_url(dsn: str, port: int) -> str:
    """The same database, reached through the relay on 127.0.0.1:port (no TLS)."""
    parts = urlsplit(dsn)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = [q for q in parts.query.split("&") if q and not q.startswith("host=")]
    query.append("ssl=disable")
    return f"{parts.scheme}://{userinfo}127.0.0.1:{port}{parts.path}?{'&'.join(query)}"


class RoundTripCounter:
    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self._upstream = upstream
        self.round_trips: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self._upstream, str):
            return await asyncio.open_unix_connection(self._upstream)
        return await asyncio.open_connection(*self._upstream)

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_writer: asyncio.StreamWriter | None = None
        try:
            startup = await self._read_startup(c_reader, c_writer)
            if startup is None:
                return
            app = _application_name(startup)
            s_reader, s_writer = await self._open_upstream()
            s_writer.write(startup)
            await s_writer.drain()
            await asyncio.gather(
                _pipe(c_reader, s_writer),
                self._count(s_reader, c_writer, app),
            )
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()

    async def _read_startup(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!II", head)
            if code in (_SSL_REQUEST, _GSS_REQUEST):
                writer.write(b"N")  # no TLS on loopback: the client goes on in clear
                await writer.drain()
                continue
            return head + await reader.readexactly(length - 8)

    async def _count(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: str
    ) -> None:
        # Walk the server's message framing (type byte + int32 length) without copying
        # bodies: only the type of each message matters.
        pending = b""
        skip = 0
        while True:
            data = await reader.read(65536)
            if not data:
                writer.close()
                return
            writer.write(data)
            view = pending + data
            pos = 0
            if skip:
                taken = min(skip, len(view))
                skip -= taken
                pos = taken
            while not skip and len(view) - pos >= 5:
                kind = view[pos]
                (length,) = struct.unpack_from("!I", view, pos + 1)
                if kind == 0x5A:  # 'Z' ReadyForQuery
                    self.round_trips[app] += 1
                end = pos + 1 + length
                if end > len(view):
                    skip = end - len(view)
                    pos = len(view)
                else:
                    pos = end
            pending = view[pos:]
            await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            writer.close()
            return
        writer.write(data)
        await writer.drain()


def _application_name(startup: bytes) -> str:
    # Startup packet: int32 length, int32 protocol, then name\0value\0 pairs.
    fields = startup[8:].split(b"\x00")
    pairs = dict(zip(fields[0::2], fields[1::2], strict=False))
    return pairs.get(b"application_name", b"?").decode(errors="replace")
