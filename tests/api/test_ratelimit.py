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


# -- refused traffic is counted, not stored row by row -------------------------------------------


def test_refusal_counts_close_with_their_interval():
    from paperchain.api.audit import RefusalCounts

    clock = [119.0]
    counts = RefusalCounts(60.0, clock=lambda: clock[0])
    assert counts.add(("anonymous", "1.2.3.4", "POST /x", "denied", 401)) == {}
    assert counts.add(("anonymous", "1.2.3.4", "POST /x", "denied", 401)) == {}
    clock[0] = 120.0  # the next minute: the first one's counts come out once
    ended = counts.add(("anonymous", "1.2.3.4", "POST /x", "denied", 401))
    assert [t.count for t in ended.values()] == [2]
    assert [t.count for t in counts.take_all().values()] == [1]


def test_refusal_keys_past_the_limit_share_one_bucket():
    from paperchain.api.audit import RefusalCounts

    counts = RefusalCounts(60.0, max_keys=2, clock=lambda: 0.0)
    for ip in ("a", "b", "c", "d"):
        counts.add(("anonymous", ip, "POST /x", "denied", 401))
    tallies = counts.take_all()
    assert {key[1]: t.count for key, t in tallies.items()} == {"a": 1, "b": 1, "*": 2}


@pytest.mark.slow
async def test_two_thousand_refused_requests_leave_a_bounded_number_of_audit_rows(paperchain_api):
    # The address may send 1,000 requests at once (burst) and then almost none: those the burst
    # lets through are refused for lack of credentials (401), the rest by the address limit (429).
    api = await paperchain_api(api={"ip_rate": 0.001, "ip_burst": 1000})
    body = {"name": "w", "steps": [{"id": "a", "uses": "document.text"}]}
    statuses = [(await api.request("PUT", "/api/v1/workflows/w", token=None, json=body)).status for _ in range(2000)]
    sent = {401: statuses.count(401), 429: statuses.count(429)}
    assert sent[401] > 900 and sent[401] + sent[429] == 2000
    await api.state.audit.stop()  # what shutdown does: the open interval's counts are written
    rows = await api.state.audit.query(limit=1000)
    refused = [r for r in rows if r["action"] == "PUT /api/v1/workflows/{name}"]
    assert len(refused) <= 4  # one per status, or two if the run straddles a minute
    totals = {401: 0, 429: 0}
    for row in refused:
        assert row["actor"] == "anonymous" and row["ip"] == "127.0.0.1" and row["outcome"] == "denied"
        totals[row["status"]] += row["details"]["count"]
    assert totals == sent
