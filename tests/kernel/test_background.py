"""Background work tied to a lifespan: a failing round is retried, exit stops it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kernel.background import periodic


async def test_a_failed_round_is_logged_and_the_next_round_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    second_round = asyncio.Event()

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("clamd injoignable")
        second_round.set()

    with caplog.at_level(logging.WARNING):
        async with periodic("essai", 0, work, logging.getLogger("test.background")):
            await asyncio.wait_for(second_round.wait(), timeout=10)
    assert [r.getMessage() for r in caplog.records] == ["essai failed"]
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "essai"]


async def test_leaving_the_block_cancels_the_work_in_progress() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with periodic("long", 0, work, logging.getLogger("test.background")):
        await asyncio.wait_for(started.wait(), timeout=10)
    assert cancelled.is_set()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "long"]


async def test_delay_first_waits_one_interval_before_the_first_round() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    async with periodic("tard", 3600, work, logging.getLogger("test.background"), delay_first=True):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert not ran.is_set()
