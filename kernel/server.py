"""How every app is served: uvicorn's httptools protocol, each response in one send.

uvicorn writes a response's status line and headers, then its body, as two socket
writes: two TCP segments on every hop, and the reader (the gateway, a client) wakes up
and reads twice. Here every write made while the event loop runs one step is held and
leaves in a single `writev` at the end of that step, so a response whose body is ready
(every JSON response, every proxied chunk already received) goes out in one segment.
Order is kept and nothing waits longer than the current loop step; closing or
half-closing the connection sends what is held first, and so does a response's end.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A socket transport whose writes within one loop step leave together."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes | bytearray | memoryview] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if not pending or self._transport.is_closing():
            return
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:
            self._transport.writelines(pending)  # one writev on uvloop and asyncio

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def get_write_buffer_size(self) -> int:
        held = sum(len(data) for data in self._pending) if self._pending else 0
        return self._transport.get_write_buffer_size() + held


def serve(factory: str, host: str, port: int) -> None:
    """Serve the app `factory` ("module:callable") as every app of the suite is served:
    our logging (none of uvicorn's own access log), no proxy headers trusted, no
    "server: uvicorn" banner (it tells a caller nothing it needs, and an attacker which
    server to aim at), each response in one send (`HttpProtocol`)."""
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        http=HttpProtocol,
    )


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport`.

    `uvicorn.run(http=HttpProtocol)`, or `--http kernel.server:HttpProtocol`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))

    def on_response_complete(self) -> None:
        # A complete response leaves now, not when the loop step ends: what the app does
        # after its last send (access log, metrics, its middleware unwinding, uvicorn's
        # own bookkeeping) is no longer part of the client's wait.
        cast(CoalescingTransport, self.transport).flush()
        super().on_response_complete()
