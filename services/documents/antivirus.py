"""A minimal clamd client: the INSTREAM command over a Unix or TCP socket.

Protocol: send ``zINSTREAM\\0``, then chunks each prefixed by their length (4 bytes,
big-endian), then a zero length; clamd answers ``stream: OK``, ``stream: <name> FOUND``
or ``... ERROR``, terminated by ``\\0``.

Two kinds of failure, told apart because callers treat them differently (both fail
closed: the version never becomes downloadable unscanned):

- `ScanUnavailable`: no answer (unreachable, connection reset, timeout). Transient: the
  version stays ``en_analyse`` and is retried later.
- `ScanError`: clamd answered with an error (``INSTREAM size limit exceeded. ERROR``
  when the file is above its StreamMaxLength, ...): this content cannot be analysed as
  clamd is configured. Retried a bounded number of times, then rejected.

clamd refuses an over-long stream by answering *before* the stream ends and closing
the connection, so our next write fails. The session uses a plain non-blocking socket
(not asyncio streams, which drop what was received once a write fails) and reads what
clamd said before reporting the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

# clamd refuses chunks larger than its StreamMaxLength anyway; keep them modest.
MAX_CHUNK = 256 * 1024
# A clamd reply is one short line; anything longer is not clamd.
MAX_REPLY = 4096


class ScanUnavailable(Exception):
    """clamd gave no answer (down, connection reset, timeout): transient."""


class ScanError(Exception):
    """clamd answered with an error: it cannot analyse this content."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace").strip()
    body = text.split(":", 1)[1].strip() if text.startswith("stream:") else text
    if body == "OK":
        return Verdict(clean=True)
    if body.endswith(" FOUND"):
        return Verdict(clean=False, signature=body[: -len(" FOUND")].strip())
    if body.endswith("ERROR"):
        raise ScanError(body[:300])
    raise ScanUnavailable(f"réponse de clamd inattendue : {text[:200]}")


class InstreamSession:
    """One INSTREAM exchange fed chunk by chunk (used while an upload streams in)."""

    def __init__(self, sock: socket.socket, timeout: float):
        self._sock = sock
        self._timeout = timeout

    async def _sendall(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(self._sock, data), self._timeout)

    def _pending_reply(self) -> bytes:
        """What clamd already said, without waiting (the socket is non-blocking)."""
        received = bytearray()
        while not received.endswith(b"\0") and len(received) < MAX_REPLY:
            try:
                data = self._sock.recv(MAX_REPLY)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            received += data
        return bytes(received)

    def _failed(self, exc: BaseException) -> Exception:
        """A write failed: an early answer (an error) explains it, else clamd is gone."""
        early = self._pending_reply()
        if early:
            try:
                verdict = parse_reply(early)
            except (ScanError, ScanUnavailable) as reason:
                return reason
            return ScanUnavailable(f"clamd a répondu avant la fin du flux : {verdict}")
        return ScanUnavailable(f"clamd : {exc!r}")

    async def send(self, data: bytes) -> None:
        try:
            for start in range(0, len(data), MAX_CHUNK):
                piece = data[start : start + MAX_CHUNK]
                await self._sendall(struct.pack(">I", len(piece)) + piece)
        except (OSError, TimeoutError) as exc:
            failure = self._failed(exc)
            self.close()
            raise failure from exc

    async def finish(self) -> Verdict:
        loop = asyncio.get_running_loop()
        try:
            try:
                await self._sendall(struct.pack(">I", 0))
            except (OSError, TimeoutError) as exc:
                raise self._failed(exc) from exc
            reply = bytearray()
            while not reply.endswith(b"\0") and len(reply) < MAX_REPLY:
                try:
                    data = await asyncio.wait_for(
                        loop.sock_recv(self._sock, MAX_REPLY), self._timeout
                    )
                except (OSError, TimeoutError) as exc:
                    if reply:
                        break
                    raise ScanUnavailable(f"clamd : {exc!r}") from exc
                if not data:
                    break
                reply += data
        finally:
            self.close()
        if not reply:
            raise ScanUnavailable("clamd a fermé la connexion sans réponse")
        return parse_reply(bytes(reply))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class ClamdClient:
    def __init__(self, address: str, timeout: float = 60.0) -> None:
        self._address = parse_address(address)
        self._timeout = timeout

    async def _connect(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        if isinstance(self._address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[Any, ...] = self._address
        else:
            host, port = self._address
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError(f"adresse inconnue : {host}")
            family, kind, proto, _, target = infos[0]
            sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, target), self._timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    async def open(self) -> InstreamSession:
        try:
            sock = await self._connect()
        except (OSError, TimeoutError) as exc:
            raise ScanUnavailable(f"clamd injoignable : {exc!r}") from exc
        session = InstreamSession(sock, self._timeout)
        try:
            await session._sendall(b"zINSTREAM\0")
        except (OSError, TimeoutError) as exc:
            session.close()
            raise ScanUnavailable(f"clamd injoignable : {exc!r}") from exc
        return session

    async def scan(self, chunks: AsyncIterable[bytes]) -> Verdict:
        """Scan a stream; a generator (e.g. a storage read) is closed on the way out, so
        that a refused stream does not leave its file open until garbage collection."""
        try:
            session = await self.open()
            try:
                async for chunk in chunks:
                    await session.send(chunk)
            except BaseException:
                session.close()
                raise
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        return await session.finish()

    async def ping(self) -> bool:
        try:
            sock = await self._connect()
        except (OSError, TimeoutError):
            return False
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, b"zPING\0"), self._timeout)
            reply = await asyncio.wait_for(loop.sock_recv(sock, 64), self._timeout)
        except (OSError, TimeoutError):
            return False
        finally:
            sock.close()
        return reply.rstrip(b"\0") == b"PONG"
