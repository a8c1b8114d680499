"""An ASGI app served by a real granian in the test's event loop, on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from granian.constants import HTTPModes, Interfaces
from granian.server.embed import Server
from starlette.types import ASGIApp

from coop.ports import free_port

# The test run's logging stays as pytest set it: only the server logger's level changes.
_LEAVE_LOGGING = {"version": 1, "incremental": True, "handlers": {}, "loggers": {}}


@asynccontextmanager
async def served(app: ASGIApp, port: int | None = None) -> AsyncIterator[str]:
    """The app's base URL while it is served (granian, as `coop serve` serves apps; the
    app's lifespan is the caller's to run); `port` when another app must know it before
    this one is served (else a free one)."""
    port = port or free_port()
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGINL,
        http=HTTPModes.http1,
        websockets=False,
        log_dictconfig=_LEAVE_LOGGING,
        log_level="warning",
    )
    task = asyncio.create_task(server.serve())
    while True:  # listening once a connection is accepted
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        break
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await task
