"""The load driver's accounting, against a real loopback server (no timings asserted)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from coop.bench.driver import (
    Endpoint,
    RequestSpec,
    Samples,
    Variant,
    _in_turn,
    cpu_seconds,
    latency_run,
    throughput_run,
)
from tests.support.served import served

SEEN: Counter[str] = Counter()
ORDER: list[str] = []


async def answer(request: Request) -> Response:
    variant = request.path_params["variant"]
    SEEN[variant] += 1
    ORDER.append(variant)
    await asyncio.sleep(0)
    return Response(b"x" * 100)


async def answer_slowly(request: Request) -> Response:
    await asyncio.sleep(0.05)
    return await answer(request)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    SEEN.clear()
    ORDER.clear()
    routes = [Route("/slow/{variant}", answer_slowly), Route("/{variant}", answer)]
    async with served(Starlette(routes=routes)) as url:
        yield url


def endpoint(base: str, prefix: str = "") -> Endpoint:
    def variant(name: str) -> Variant:
        return Variant(name, base, lambda i: RequestSpec("GET", f"{prefix}/{name}", {}))

    return Endpoint("e", "e", "read", [variant("a"), variant("b"), variant("c")])


def test_each_round_starts_with_the_next_variant() -> None:
    variants = endpoint("http://unused").variants
    firsts = [_in_turn(variants, r)[0].name for r in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    assert all(len(set(v.name for v in _in_turn(variants, r))) == 3 for r in range(3))


def test_rates_are_over_the_counted_window() -> None:
    samples = Samples(latencies=[0.01] * 10, bytes=3_000_000)
    samples.count_window((5.0, 4, 1_000_000), (7.0, 10, 3_000_000))
    summary = samples.summary()
    assert summary["requests"] == 10  # every answer is in the latency figures
    assert summary["rps"] == 3.0  # 6 answers in the 2-second window
    assert summary["mb_per_s"] == 1.0  # 2 MB in the window
    assert "rps_rounds" not in summary
    assert "p50_quarters_ms" not in summary


def test_spread_parts_each_round_rate_and_each_quarter_p50() -> None:
    samples = Samples(latencies=[0.001] * 10 + [0.002] * 10 + [0.003] * 10 + [0.004] * 10)
    samples.count_round((0.0, 0, 0), (2.0, 10, 0))
    samples.count_round((5.0, 10, 0), (6.0, 40, 0))
    summary = samples.summary()
    assert summary["rps_rounds"] == [5.0, 30.0]
    assert summary["rps"] == round(40 / 3, 1)  # the rate stays the pooled one
    assert summary["p50_quarters_ms"] == [1.0, 2.0, 3.0, 4.0]


async def test_latency_rounds_rotate_and_every_request_counts(server: str) -> None:
    samples = await latency_run(endpoint(server), max_requests=6, max_seconds=60, warmup=0)
    assert ORDER[:9] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    for name in "abc":
        assert samples[name].window_requests == 6
        assert len(samples[name].latencies) == 6


async def test_throughput_counts_what_completed_while_requests_were_issued(server: str) -> None:
    concurrency, slices, bound = 8, 3, 120
    samples = await throughput_run(endpoint(server), concurrency, bound, 60, slices=slices)
    for name in "abc":
        s = samples[name]
        warm = concurrency  # one warm-up request per connection, outside the figures
        assert SEEN[name] == warm + len(s.latencies) + s.errors
        assert s.errors == 0
        assert len(s.latencies) == bound  # the bound, split between the slices
        # A slice's drain (at most concurrency - 1 answers) is timed, not counted.
        assert bound - slices * (concurrency - 1) <= s.window_requests < bound
        assert s.summary()["rps"] > 0
        assert len(s.summary()["rps_rounds"]) == slices  # one rate per round


async def test_rounds_past_the_minimum_start_only_within_the_point_time(server: str) -> None:
    # Each answer takes 50 ms or more: two rounds of three variants outlast 0.3 s.
    slow = endpoint(server, "/slow")
    samples = await throughput_run(slow, 2, 600, 0.3, slices=6, min_slices=2)
    assert {len(s.summary()["rps_rounds"]) for s in samples.values()} == {2}
    # Within its time, a point runs every round.
    samples = await throughput_run(endpoint(server), 2, 60, 60, slices=6, min_slices=2)
    assert {len(s.summary()["rps_rounds"]) for s in samples.values()} == {6}


async def test_a_slice_without_steady_state_counts_all_its_answers(server: str) -> None:
    # One request per worker and slice: nothing to tell a drain from.
    concurrency, slices = 8, 2
    samples = await throughput_run(endpoint(server), concurrency, 8, 60, slices=slices)
    for name in "abc":
        assert samples[name].window_requests == len(samples[name].latencies) == 16


async def test_the_front_process_cpu_is_read_around_its_slices(server: str) -> None:
    # The server runs in this very process: its CPU is this pid's.
    measured = Variant("a", server, lambda i: RequestSpec("GET", "/a", {}), os.getpid())
    unmeasured = Variant("b", server, lambda i: RequestSpec("GET", "/b", {}))
    # Enough requests for CPU time, counted in clock ticks of 10 ms, to move.
    bound = 600
    samples = await throughput_run(
        Endpoint("e", "e", "read", [measured, unmeasured]), 4, bound, 60, slices=2
    )
    a, b = samples["a"], samples["b"]
    assert a.cpu_requests == len(a.latencies) == bound  # every answer of its slices
    assert a.cpu_seconds > 0
    assert a.summary()["cpu_ms_per_request"] == round(1000 * a.cpu_seconds / bound, 3)
    assert b.cpu_requests == 0
    assert "cpu_ms_per_request" not in b.summary()
    assert cpu_seconds(None) is None


def test_a_process_gone_has_no_cpu_to_read() -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert cpu_seconds(int(gone.stdout)) is None
    assert cpu_seconds(os.getpid()) is not None


# A child that burns half a second of CPU, then waits; its parent only waits for it.
_BUSY_CHILD = (
    "import time\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end:\n"
    "    pass\n"
    "print('done', flush=True)\n"
    "time.sleep(60)\n"
)
_IDLE_PARENT = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {_BUSY_CHILD!r}])\n"
    "time.sleep(60)\n"
)


def test_the_cpu_of_a_front_process_counts_its_workers() -> None:
    """An app served with worker processes (kernel.server) works in them, its own
    process only supervises: the CPU read for it is the whole family's."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _IDLE_PARENT], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"done\n"  # the child's, through the pipe
        total = cpu_seconds(parent.pid)
        assert total is not None
        assert total >= 0.45, total
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.communicate()
