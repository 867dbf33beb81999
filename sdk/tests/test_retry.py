"""The one retry policy (engine steps and the notify outbox): waits, caps, jitter, what is retried."""

import random

import pytest

from paperchain_sdk import ConfigError, InputError, PaperchainError
from paperchain_sdk.retry import RetryPolicy, retryable


class Transient(PaperchainError):
    retryable = True


def test_delays_grow_by_the_factor_up_to_the_cap_without_jitter():
    policy = RetryPolicy(attempts=6, backoff=1.5, factor=3, max_delay=20, jitter=False)
    assert [policy.delay(n) for n in range(1, 5)] == [1.5, 4.5, 13.5, 20]


def test_jitter_draws_half_to_all_of_the_delay():
    policy = RetryPolicy(attempts=3, backoff=2)
    seeded = random.Random(7)
    delays = [policy.delay(2, seeded) for _ in range(200)]
    assert all(2 <= d <= 4 for d in delays) and len(set(delays)) > 100


def test_only_retryable_failures_with_attempts_left_are_retried():
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(1, Transient("busy")) and policy.should_retry(2, TimeoutError())
    assert not policy.should_retry(3, Transient("busy"))  # the last attempt
    assert not policy.should_retry(1, InputError("bad"))  # no retry fixes bad input
    assert not policy.should_retry(1, ConfigError("bad"))
    assert retryable(RuntimeError("unexpected")) and not retryable(InputError("bad"))


@pytest.mark.parametrize("numbers", [{"attempts": 0}, {"backoff": -1}, {"factor": 0.5}, {"max_delay": -1}])
def test_check_names_where_a_policy_is_impossible(numbers):
    with pytest.raises(ConfigError, match="step 'x', retry: attempts must be >= 1"):
        RetryPolicy(**numbers).check("step 'x', retry")
    assert RetryPolicy(attempts=2).check("here") == RetryPolicy(attempts=2)
