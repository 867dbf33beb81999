"""The token buckets behind 429 answers, with the clock passed in."""

import pytest

from paperchain.api.ratelimit import TokenBuckets


def test_a_burst_then_one_per_interval():
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", 100.0) == pytest.approx(0.5)  # the next token in 1 / rate seconds
    assert buckets.take("other", 100.0) == 0.0  # keys do not share a bucket
    assert buckets.take("k", 100.5) == 0.0
    assert buckets.take("k", 100.5) == pytest.approx(0.5)
    assert [buckets.take("k", 102.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled, never above burst
    assert buckets.take("k", 102.0) > 0


def test_refused_requests_take_nothing():
    buckets = TokenBuckets(rate=1.0, burst=1)
    assert buckets.take("k", 10.0) == 0.0
    for _ in range(5):
        assert buckets.take("k", 10.0) == pytest.approx(1.0)
    assert buckets.take("k", 11.0) == 0.0


def test_full_buckets_are_pruned_at_the_key_limit():
    buckets = TokenBuckets(rate=10.0, burst=5, max_keys=3)
    for key in "abc":
        buckets.take(key, 1.0)
    buckets.take("d", 5.0)  # a, b and c are full again by now: their state is dropped
    assert set(buckets._full_at) == {"d"}
