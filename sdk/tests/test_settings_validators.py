"""The settings validators every plugin shares: each bad value is a ConfigError naming the field."""

from typing import Any

import attrs
import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.settings import at_least, between, duration, one_of, positive, structure_settings


@attrs.define
class Example:
    ratio: float = attrs.field(default=0.5, validator=between(0, 1))
    mode: str = attrs.field(default="fast", validator=one_of(("fast", "exact")))
    size: int = attrs.field(default=1, validator=positive)
    folds: int = attrs.field(default=2, validator=at_least(2))
    every: Any = attrs.field(default="5m", validator=duration)


def test_good_values_pass():
    built = structure_settings(Example, {"ratio": 1, "mode": "exact", "size": 3, "folds": 9, "every": 30},
                               where="the test")
    assert built == Example(ratio=1, mode="exact", size=3, folds=9, every=30)


@pytest.mark.parametrize(("values", "message"), [
    ({"ratio": 1.5}, "ratio must be between 0 and 1, got 1.5"),
    ({"mode": "slow"}, "mode must be one of fast, exact, got 'slow'"),
    ({"size": 0}, "size must be above 0, got 0"),
    ({"folds": 1}, "folds must be at least 2, got 1"),
    ({"every": "soon"}, "every: 'soon' is not a duration"),
    ({"every": "-5m"}, "is not a duration"),
    ({"every": 0}, "every: a duration must be positive"),
])
def test_bad_values_name_the_field(values, message):
    with pytest.raises(ConfigError) as caught:
        structure_settings(Example, values, where="the test")
    assert message in caught.value.message
