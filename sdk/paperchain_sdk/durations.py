"""The one duration grammar of Paperchain: workflow timeouts, cache TTLs, trigger intervals.

A duration is a positive number of seconds (``30``, ``1.5``) or text: a number and one unit,
``ms``, ``s``, ``m``, ``h``, ``d`` or ``w`` (``"250ms"``, ``"30s"``, ``"5m"``, ``"1.5h"``,
``"7d"``, ``"2w"``). A bare number in text (``"30"``) is seconds.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ConfigError

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
HINT = 'write seconds (30) or a number and a unit: "250ms", "30s", "5m", "1h", "7d", "2w"'


def parse_duration(value: Any, *, where: str) -> float:
    """Seconds in ``value``; a ConfigError naming ``where`` when it is not a positive duration."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{where}: a duration is required, got {value!r}.", hint=HINT)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _TEXT.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(f"{where}: {value!r} is not a duration.", hint=HINT)
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: a duration must be positive, got {value!r}.", hint=HINT)
    return seconds
