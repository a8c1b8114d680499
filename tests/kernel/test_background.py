"""Background work tied to a lifespan: a failing round is retried, exit stops it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.background import periodic
from kernel.server import PERIODIC_LOCK_ENV


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


_WORKER = """
import asyncio, logging, os, sys
from kernel.background import periodic

async def main() -> None:
    async def work() -> None:
        with open(sys.argv[1], "a") as out:
            out.write(f"{os.getpid()}\\n")

    async with periodic("essai", 0.05, work, logging.getLogger("essai")):
        await asyncio.sleep(float(sys.argv[2]))

asyncio.run(main())
"""


def test_periodic_work_runs_in_one_worker_of_a_server_and_moves_when_it_dies(
    tmp_path: Path,
) -> None:
    """Workers of one server share its lock file (kernel.server): one of them runs
    the periodic work, and when it exits another takes over, never both at once."""
    rounds = tmp_path / "rounds"
    env = {**os.environ, PERIODIC_LOCK_ENV: str(tmp_path / "periodic.lock")}
    short, long = (
        subprocess.Popen([sys.executable, "-c", _WORKER, str(rounds), seconds], env=env)
        for seconds in ("1", "3")
    )
    assert short.wait(30) == 0
    assert long.wait(30) == 0
    pids = [int(line) for line in rounds.read_text().split()]
    runs = [pid for i, pid in enumerate(pids) if i == 0 or pids[i - 1] != pid]
    # One runner at a time: either the long-lived one all along, or the short-lived
    # one until it exited, then the other.
    assert runs in ([long.pid], [short.pid, long.pid])
    assert len(pids) > 10
