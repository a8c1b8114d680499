"""A TCP relay in front of the test PostgreSQL that can be told to stop forwarding.

A PostgreSQL that stalls (frozen, not down) accepts connections and reads what it is
sent, then never answers. Freezing the shared test server would freeze every other
test; this relay freezes only the apps pointed at it: `stall()` holds every byte in
both directions (open connections hang, new ones never get past their startup),
`resume()` lets them flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from coop.bench.pgproxy import proxied_url, upstream_address


class StallingRelay:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._upstream = upstream_address(database_url)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The test database, reached through this relay."""
        return proxied_url(self._database_url, self.port)

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stops listening and cuts every connection (the apps see them closed)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if isinstance(self._upstream, str):
                s_reader, upstream = await asyncio.open_unix_connection(self._upstream)
            else:
                s_reader, upstream = await asyncio.open_connection(*self._upstream)
            self._writers.add(upstream)
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(s_reader, writer))
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()
                    self._writers.discard(w)
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()  # stalled: held here, in neither direction
            writer.write(data)
            await writer.drain()
        writer.close()


@asynccontextmanager
async def stalling_relay(database_url: str) -> AsyncIterator[StallingRelay]:
    relay = StallingRelay(database_url)
    await relay.start()
    try:
        yield relay
    finally:
        relay.resume()
        await relay.close()
