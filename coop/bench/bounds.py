"""How much a benchmark run may take (its own module: `coop bench --help` reads the
defaults without loading the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """What one point of measure may take, per variant.

    c=1 points and the 5 MiB transfers (c=8): `requests` and `seconds`, in four rounds.
    c=32 reads: `load_requests` and `load_seconds` in `rounds` rounds. A c=32 rate is the
    noisiest figure of a run on a small shared machine (one round's rate differs from
    the next by 10 to 45 %), so these points get the most requests and the most rounds;
    past `min_rounds`, a round starts only within `load_seconds` (the national
    aggregates, seconds per answer at c=32, keep their four rounds and no more).
    """

    requests: int = 1000
    seconds: float = 8.0
    load_requests: int = 3000
    load_seconds: float = 16.0
    rounds: int = 8
    min_rounds: int = 4
