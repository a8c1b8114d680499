"""Background work of one process, tied to its lifespan: started on entry, cancelled
and awaited on exit (nothing left running after shutdown, no "task destroyed" warning).

It runs in every process that enters it (each worker of a served app): work that must
run once across processes and replicas is a job (kernel.jobs, `coop worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def background(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run ``coro`` as a task while the block runs."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def periodic(
    name: str,
    interval_seconds: float,
    work: Callable[[], Awaitable[object]],
    log: logging.Logger,
    *,
    delay_first: bool = False,
) -> contextlib.AbstractAsyncContextManager[None]:
    """Run ``work`` every ``interval_seconds`` while the block runs. A failing round is
    logged as a warning and the next round retries: one bad round never stops the loop."""

    async def loop() -> None:
        if delay_first:
            await asyncio.sleep(interval_seconds)
        while True:
            try:
                await work()
            except Exception as exc:
                log.warning(f"{name} failed", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(interval_seconds)

    return background(loop(), name)
