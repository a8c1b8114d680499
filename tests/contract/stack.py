"""The authorization matrix's world (gateway, three services, real HTTP between them),
with the gateway served too, run in a thread of its own: a fuzzer's blocking client
calls it from the test's thread as any integrator would, over the loopback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kernel.database import create_engine
from tests.authz.world import World, build_world
from tests.support.served import served


@dataclass(frozen=True)
class Stack:
    world: World
    gateway_url: str
    headers: dict[str, dict[str, str]]  # persona -> Authorization header


async def _run(
    tmp: Path,
    database_url: str,
    personas: tuple[str, ...],
    started: concurrent.futures.Future[tuple[Stack, asyncio.AbstractEventLoop, asyncio.Event]],
) -> None:
    stop = asyncio.Event()
    engine = create_engine(database_url, pool_size=1)
    try:
        async with (
            build_world(tmp, database_url, engine) as world,
            served(world.gateway_app) as gateway_url,
        ):
            headers = {p: world.headers(p) for p in personas}
            started.set_result(
                (Stack(world, gateway_url, headers), asyncio.get_running_loop(), stop)
            )
            await stop.wait()
    except BaseException as exc:
        if not started.done():
            started.set_exception(exc)
        raise
    finally:
        await engine.dispose()


@contextmanager
def running_stack(tmp: Path, database_url: str, personas: tuple[str, ...]) -> Iterator[Stack]:
    """The stack while the block runs; stopped (apps' lifespans ended) after it."""
    started: concurrent.futures.Future[tuple[Stack, asyncio.AbstractEventLoop, asyncio.Event]]
    started = concurrent.futures.Future()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(_run(tmp, database_url, personas, started))
        except BaseException as exc:  # reported by the caller
            failure.append(exc)

    thread = threading.Thread(target=main, name="contract-stack", daemon=True)
    thread.start()
    stack, loop, stop = started.result(timeout=120)
    try:
        yield stack
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
    if failure:
        raise failure[0]
