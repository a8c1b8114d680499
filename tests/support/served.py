"""An ASGI app served by a real uvicorn in the test's event loop, on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from coop.stack import free_port
from kernel.server import HttpProtocol


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """The app's base URL while it is served (the protocol `coop serve` runs)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=HttpProtocol, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
