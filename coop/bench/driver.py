"""The load driver: bounded (requests and seconds), interleaved, loopback only.

For each endpoint, its variants (gateway, direct service, bare relay, baseline, raw)
are measured side by side:

- c=1 (latency): one request per variant in turn, round-robin, so they all see the
  same machine state request by request.
- c=32 (throughput): slices, each variant in turn for a slice with 32 workers,
  repeated; a variant's requests/s is what completed while its slices were issuing
  requests, over that time. A slice's tail (the last requests draining once issuing
  stops, with ever fewer workers busy) is timed for latency but not counted as
  throughput: it measured how unevenly 32 workers finish, not the server (what
  wrk-style tools do with in-flight requests at the deadline). A slice shorter than
  its requests take (fewer than two answers per worker before issuing stopped, the
  national aggregates) has no steady state: its rate is over the whole slice.

Each round starts with the next variant in turn: none is always the first to touch a
target (cold caches) or always the one following another variant's work.

Every bound is on both the request count and the wall time; the first reached stops.

At c=N each variant's front process (the gateway, the relay, the service, the baseline)
has its CPU time read around each of its slices: the CPU per request of that process
alone, its own cost, which a rate mixes with every other process's on the shared cores.

A point is one run, so its spread is reported beside it: each c=N round's rate, and the
p50 of each quarter of the c=1 requests (in order). A reader sees whether a verdict on a
ratio sits inside the run-to-run noise of this machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil  # type: ignore[import-untyped]

from coop.bench.http import Connection, Response

# Fewer answers than this per quarter make its p50 a few samples' luck: no quarters then.
QUARTER_MIN = 10


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    expect: frozenset[int] = frozenset({200})


@dataclass
class Variant:
    name: str  # gateway | direct | relay | baseline | raw
    base_url: str
    # i-th request of this variant (targets rotate with i).
    request: Callable[[int], RequestSpec]
    # The process its requests reach first: its CPU per request is measured at c=N.
    front_pid: int | None = None


@dataclass
class Endpoint:
    key: str
    label: str
    kind: str  # read | write | transfer
    variants: list[Variant]


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bytes: int = 0
    first_error: str | None = None
    # What the rates are computed over: the measured windows, their requests and bytes.
    window_seconds: float = 0.0
    window_requests: int = 0
    window_bytes: int = 0
    # Each c=N round's own rate (requests/s over its counted window).
    round_rates: list[float] = field(default_factory=list)
    # The front process's CPU over the c=N slices, and the requests answered in them.
    cpu_seconds: float = 0.0
    cpu_requests: int = 0

    def mark(self) -> tuple[float, int, int]:
        """Now, and how many answers and bytes so far: a window's start or end."""
        return time.perf_counter(), len(self.latencies), self.bytes

    def count_window(self, start: tuple[float, int, int], end: tuple[float, int, int]) -> None:
        """Counts in the rates what completed between two marks."""
        self.window_seconds += end[0] - start[0]
        self.window_requests += end[1] - start[1]
        self.window_bytes += end[2] - start[2]

    def count_round(self, start: tuple[float, int, int], end: tuple[float, int, int]) -> None:
        """A c=N round's window: counted in the rates, and its own rate kept."""
        self.count_window(start, end)
        if end[0] > start[0]:
            self.round_rates.append((end[1] - start[1]) / (end[0] - start[0]))

    def record(self, spec: RequestSpec, resp: Response | None, elapsed: float, exc: str) -> None:
        if resp is not None and resp.status in spec.expect:
            self.latencies.append(elapsed)
            self.bytes += resp.size + len(spec.body)
            return
        self.errors += 1
        if self.first_error is None:
            if resp is not None:
                self.first_error = f"{spec.method} {spec.path} -> {resp.status} {resp.body[:300]!r}"
            else:
                self.first_error = f"{spec.method} {spec.path} -> {exc}"

    def summary(self) -> dict[str, Any]:
        arr = np.array(self.latencies) * 1000.0
        ok = len(self.latencies)
        out: dict[str, Any] = {"requests": ok, "errors": self.errors}
        if ok:
            p50, p95, p99 = np.percentile(arr, [50, 95, 99])
            out.update(
                p50_ms=round(float(p50), 3),
                p95_ms=round(float(p95), 3),
                p99_ms=round(float(p99), 3),
                mean_ms=round(float(arr.mean()), 3),
            )
            if ok >= 4 * QUARTER_MIN:
                out["p50_quarters_ms"] = [
                    round(float(np.percentile(part, 50)), 3) for part in np.array_split(arr, 4)
                ]
        if self.window_seconds > 0:
            out["rps"] = round(self.window_requests / self.window_seconds, 1)
            if self.window_bytes:
                out["mb_per_s"] = round(self.window_bytes / self.window_seconds / 1e6, 1)
        if self.round_rates:
            out["rps_rounds"] = [round(r, 1) for r in self.round_rates]
        if self.cpu_requests:
            out["cpu_ms_per_request"] = round(1000.0 * self.cpu_seconds / self.cpu_requests, 3)
        if self.first_error:
            out["first_error"] = self.first_error
        return out


def cpu_seconds(pid: int | None) -> float | None:
    """The CPU time so far (user + system) of the process and its descendants (an app
    served by `kernel.server` does its work in worker processes, its own process only
    supervises them), None without a process to read."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for member in family:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue  # ended between the listing and the reading
        total += times.user + times.system
    return total


def _in_turn(variants: list[Variant], round_: int) -> list[Variant]:
    """The variants, starting with the `round_`-th (modulo their number)."""
    k = round_ % len(variants)
    return variants[k:] + variants[:k]


async def _one(conn: Connection, spec: RequestSpec, samples: Samples, keep_body: bool) -> None:
    start = time.perf_counter()
    resp: Response | None = None
    exc = ""
    try:
        resp = await conn.request(
            spec.method, spec.path, spec.headers, spec.body, keep_body=keep_body
        )
    except Exception as error:  # recorded as an error of this variant, the run goes on
        exc = repr(error)
        await conn.close()
    samples.record(spec, resp, time.perf_counter() - start, exc)


async def latency_run(
    endpoint: Endpoint, max_requests: int, max_seconds: float, warmup: int = 3
) -> dict[str, Samples]:
    """c=1: variants round-robin, request by request."""
    conns = {v.name: Connection(v.base_url) for v in endpoint.variants}
    samples = {v.name: Samples() for v in endpoint.variants}
    keep = endpoint.kind != "transfer"
    try:
        for i in range(warmup):
            for v in endpoint.variants:
                await _one(conns[v.name], v.request(i), Samples(), keep)
        deadline = time.monotonic() + max_seconds
        i = warmup
        while i - warmup < max_requests and time.monotonic() < deadline:
            for v in _in_turn(endpoint.variants, i):
                s = samples[v.name]
                start = s.mark()
                await _one(conns[v.name], v.request(i), s, keep)
                s.count_window(start, s.mark())
            i += 1
    finally:
        for c in conns.values():
            await c.close()
    return samples


async def throughput_run(
    endpoint: Endpoint,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    slices: int = 4,
    min_slices: int | None = None,
) -> dict[str, Samples]:
    """c=N: each variant in turn for a slice with N workers, `slices` rounds; after
    `min_slices` of them (default: all of them), a round starts only while the point is
    within `max_seconds` (a slice cannot end before its slowest answer: at c=32 an
    endpoint answering in seconds makes each round far longer than its share)."""
    samples = {v.name: Samples() for v in endpoint.variants}
    conns = {
        v.name: [Connection(v.base_url) for _ in range(concurrency)] for v in endpoint.variants
    }
    keep = endpoint.kind != "transfer"
    per_slice_requests = max(concurrency, max_requests // slices)
    per_slice_seconds = max_seconds / slices / max(1, len(endpoint.variants))
    counter = 0
    try:
        # Warm every connection once (connect, first-request costs) outside the clock.
        for v in endpoint.variants:
            await asyncio.gather(
                *(_one(c, v.request(k), Samples(), keep) for k, c in enumerate(conns[v.name]))
            )
        point_deadline = time.monotonic() + max_seconds
        at_least = slices if min_slices is None else min_slices
        for r in range(slices):
            if r >= at_least and time.monotonic() >= point_deadline:
                break
            for v in _in_turn(endpoint.variants, r):
                s = samples[v.name]
                issued = 0
                deadline = time.monotonic() + per_slice_seconds
                start = s.mark()
                issuing_stopped: list[tuple[float, int, int]] = []

                async def worker(
                    conn: Connection,
                    v: Variant = v,
                    s: Samples = s,
                    deadline: float = deadline,
                    stopped: list[tuple[float, int, int]] = issuing_stopped,
                ) -> None:
                    nonlocal issued, counter
                    # One request per worker at least: on a loaded machine the slice's
                    # time may be gone before its workers first run.
                    mine = 0
                    while issued < per_slice_requests and (
                        time.monotonic() < deadline or mine == 0
                    ):
                        mine += 1
                        issued += 1
                        counter += 1
                        await _one(conn, v.request(counter), s, keep)
                    if not stopped:  # the first worker done: issuing has stopped
                        stopped.append(s.mark())

                answered = len(s.latencies) + s.errors
                cpu_before = cpu_seconds(v.front_pid)
                await asyncio.gather(*(worker(c) for c in conns[v.name]))
                cpu_after = cpu_seconds(v.front_pid)
                if cpu_before is not None and cpu_after is not None:
                    # The whole slice, drain included: every answer in it cost CPU.
                    s.cpu_seconds += cpu_after - cpu_before
                    s.cpu_requests += len(s.latencies) + s.errors - answered
                window_end = issuing_stopped[0]
                if window_end[1] - start[1] < 2 * concurrency:
                    window_end = s.mark()  # no steady state (module doc): the whole slice
                s.count_round(start, window_end)
    finally:
        for cs in conns.values():
            for c in cs:
                await c.close()
    return samples
