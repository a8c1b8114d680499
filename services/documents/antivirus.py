"""A minimal clamd client: the INSTREAM command over a Unix or TCP socket.

Protocol: send ``zINSTREAM\\0``, then chunks each prefixed by their length (4 bytes,
big-endian), then a zero length; clamd answers ``stream: OK``, ``stream: <name> FOUND``
or ``... ERROR``, terminated by ``\\0``. Any failure is a `ScanUnavailable`: callers fail
closed (the version stays ``en_analyse``).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass

# clamd refuses chunks larger than its StreamMaxLength anyway; keep them modest.
MAX_CHUNK = 256 * 1024


class ScanUnavailable(Exception):
    """clamd could not give a verdict (down, timeout, error reply)."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str | None = None


def parse_address(address: str) -> tuple[str, int] | str:
    """``host:port`` for TCP, anything else (``/run/clamd.ctl``, ``unix:/x``) is a socket path."""
    if address.startswith("unix:"):
        return address[5:]
    if address.startswith("/"):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"adresse clamd invalide : {address!r}")
    return host.strip("[]"), int(port)


def parse_reply(reply: bytes) -> Verdict:
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace")
    body = text.split(":", 1)[1].strip() if ":" in text else text.strip()
    if body == "OK":
        return Verdict(clean=True)
    if body.endswith(" FOUND"):
        return Verdict(clean=False, signature=body[: -len(" FOUND")].strip())
    raise ScanUnavailable(f"réponse de clamd : {text}")


class InstreamSession:
    """One INSTREAM exchange fed chunk by chunk (used while an upload streams in)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self._reader = reader
        self._writer = writer
        self._timeout = timeout

    async def send(self, data: bytes) -> None:
        try:
            for start in range(0, len(data), MAX_CHUNK):
                piece = data[start : start + MAX_CHUNK]
                self._writer.write(struct.pack(">I", len(piece)) + piece)
                await asyncio.wait_for(self._writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise ScanUnavailable(f"clamd : {exc}") from exc

    async def finish(self) -> Verdict:
        try:
            self._writer.write(struct.pack(">I", 0))
            await asyncio.wait_for(self._writer.drain(), self._timeout)
            reply = await asyncio.wait_for(self._reader.readuntil(b"\0"), self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ScanUnavailable(f"clamd : {exc}") from exc
        finally:
            await self.close()
        return parse_reply(reply)

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class ClamdClient:
    def __init__(self, address: str, timeout: float = 60.0) -> None:
        self._address = parse_address(address)
        self._timeout = timeout

    async def open(self) -> InstreamSession:
        try:
            if isinstance(self._address, str):
                opening = asyncio.open_unix_connection(self._address)
            else:
                opening = asyncio.open_connection(*self._address)
            reader, writer = await asyncio.wait_for(opening, self._timeout)
            writer.write(b"zINSTREAM\0")
            await asyncio.wait_for(writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            raise ScanUnavailable(f"clamd injoignable : {exc}") from exc
        return InstreamSession(reader, writer, self._timeout)

    async def scan(self, chunks: AsyncIterable[bytes]) -> Verdict:
        session = await self.open()
        try:
            async for chunk in chunks:
                await session.send(chunk)
        except BaseException:
            await session.close()
            raise
        return await session.finish()

    async def ping(self) -> bool:
        try:
            if isinstance(self._address, str):
                reader, writer = await asyncio.open_unix_connection(self._address)
            else:
                reader, writer = await asyncio.open_connection(*self._address)
            writer.write(b"zPING\0")
            await writer.drain()
            reply = await asyncio.wait_for(reader.readuntil(b"\0"), self._timeout)
            writer.close()
            await writer.wait_closed()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return False
        return reply.rstrip(b"\0") == b"PONG"
