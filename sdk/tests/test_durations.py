"""The one duration grammar: numbers are seconds; text is a number and one unit."""

from __future__ import annotations

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.durations import parse_duration


@pytest.mark.parametrize("value, seconds", [
    (30, 30.0), (1.5, 1.5), ("30", 30.0), ("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0),
    ("7d", 604800.0), ("2w", 1209600.0), (" 10 s ", 10.0),
])
def test_durations_in_seconds(value, seconds):
    assert parse_duration(value, where="x") == seconds


@pytest.mark.parametrize("value, said", [
    ("soon", "'soon' is not a duration"), ("5 minutes", "is not a duration"), ("-5s", "is not a duration"),
    ("1e3", "is not a duration"), (0, "must be positive"), ("0s", "must be positive"), (-1, "must be positive"),
    (float("inf"), "must be positive"), (float("nan"), "must be positive"), (True, "a duration is required"),
    (None, "a duration is required"), ([5], "is not a duration"),
])
def test_what_is_not_a_duration_is_refused_naming_where(value, said):
    with pytest.raises(ConfigError, match=said) as caught:
        parse_duration(value, where="step 'a', cache-ttl")
    assert caught.value.message.startswith("step 'a', cache-ttl: ")
    assert '"7d"' in caught.value.hint
