"""Background work of an app, tied to its lifespan: started on entry, cancelled and
awaited on exit (nothing left running after shutdown, no "task destroyed" warning).

Periodic work runs in one worker of a served app, not in each of its N workers: the
worker holding the lock on the server's lock file (`kernel.server`) runs it; the
others wait for the lock (freed by the system if its holder dies). Outside
`kernel.server` (tests, one process) it always runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from kernel.server import PERIODIC_LOCK_ENV


class _PeriodicRunner:
    """Whether this process is the one running periodic work (it keeps the lock's
    descriptor open for as long as it lives)."""

    fd: int | None = None

    @classmethod
    def this_process(cls) -> bool:
        path = os.environ.get(PERIODIC_LOCK_ENV)
        if not path or cls.fd is not None:
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        cls.fd = fd
        return True


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
    """Run ``work`` every ``interval_seconds`` while the block runs, in one worker of
    the server. A failing round is logged as a warning and the next round retries: one
    bad round never stops the loop."""

    async def loop() -> None:
        # Another worker may hold the lock until it dies: asked again each interval.
        while not _PeriodicRunner.this_process():  # noqa: ASYNC110 (a file lock has no event)
            await asyncio.sleep(interval_seconds)
        if delay_first:
            await asyncio.sleep(interval_seconds)
        while True:
            try:
                await work()
            except Exception as exc:
                log.warning(f"{name} failed", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(interval_seconds)

    return background(loop(), name)
