"""Cross-process invalidation of the grants cache (PostgreSQL LISTEN/NOTIFY).

A trigger on ``gateway.grants`` notifies channel ``coop_habilitations`` at commit time
for every grant written, whoever wrote it: this gateway, another gateway instance, or
the operator's CLI. Each gateway holds one connection listening on it and drops its
cached grants on every notification, so a revocation or a new grant is seen by the
next request everywhere. After a lost connection everything is dropped too (a
notification may have been missed); the cache's short TTL remains the last resort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.background import background

CHANNEL = "coop_habilitations"
_log = logging.getLogger("coop.gateway.habilitations")


@asynccontextmanager
async def invalidate_on_grant_change(
    engine: AsyncEngine, invalidate_all: Callable[[], None], retry_seconds: float = 1.0
) -> AsyncIterator[None]:
    """While the app runs, call `invalidate_all` whenever a grant changes anywhere."""
    listening = asyncio.Event()

    def on_notify(*_args: Any) -> None:
        invalidate_all()

    async def listen_forever() -> None:
        while True:
            try:
                async with engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    lost = asyncio.Event()
                    raw.add_termination_listener(lambda _c, lost=lost: lost.set())
                    await raw.add_listener(CHANNEL, on_notify)
                    invalidate_all()  # whatever happened while we were not listening
                    listening.set()
                    await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect below; the cache TTL covers the gap
                _log.warning("grant notifications lost", extra={"fields": {"error": str(exc)}})
            invalidate_all()
            await asyncio.sleep(retry_seconds)

    async with background(listen_forever(), "grant-notifications"):
        # Start serving once listening (or after a short wait if the database is slow).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), timeout=5.0)
        yield
