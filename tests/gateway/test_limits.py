"""The gateway's token buckets keep bounded memory without ever resetting everyone."""

from __future__ import annotations

from gateway.limits import TokenBuckets


def test_a_flood_of_new_keys_evicts_only_the_least_recently_used_buckets() -> None:
    """Reaching the bound used to clear every bucket: a flood from many addresses gave
    every client, the one being limited too, a fresh budget."""
    now = [0.0]
    buckets = TokenBuckets(rate=0.01, burst=2, clock=lambda: now[0], max_keys=3)
    assert [buckets.take("abuser"), buckets.take("abuser")] == [0.0, 0.0]
    assert buckets.take("abuser") > 0  # its budget is spent
    assert buckets.take("idle") == 0.0
    for n in range(50):  # new addresses, far more than the bound
        assert buckets.take(f"flood-{n}") == 0.0
        assert buckets.take("abuser") > 0, f"budget reset after {n + 1} new keys"
        assert len(buckets) <= 3
    # The bucket evicted was the one idle the longest: it starts again, full.
    assert [buckets.take("idle"), buckets.take("idle")] == [0.0, 0.0]


def test_an_evicted_key_comes_back_with_a_fresh_budget_and_others_keep_theirs() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=1, clock=lambda: now[0], max_keys=2)
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0
    assert buckets.take("a") > 0  # a is now the most recently used
    assert buckets.take("c") == 0.0  # evicts b, not a
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0  # b forgotten: a fresh bucket (evicting c)
    now[0] += 1.0  # a refills at its rate, as it always did
    assert buckets.take("a") == 0.0
