"""The schedule trigger under a fake clock: cron in a time zone, intervals, missed firings, restarts."""

from __future__ import annotations

import datetime as dt

import pytest

import paperchain_triggers
from paperchain_sdk import ConfigError
from paperchain_sdk.testing import build_component
from paperchain_triggers.clock import FakeClock

SPEC = {s.name: s for s in paperchain_triggers.paperchain_triggers()}["schedule"]
UTC = dt.UTC


def _trigger(kernel, clock, **settings):
    trigger = build_component(SPEC, settings)
    trigger.clock = clock
    trigger.attach(kernel, "nightly")
    return trigger


class Emits:
    def __init__(self):
        self.requests = []

    async def __call__(self, request):
        self.requests.append(request)
        return f"batch-{len(self.requests)}"


def test_cron_in_a_time_zone_fires_on_local_time(kernel):
    harness = kernel()

    async def scenario():
        # 06:59 in Madrid (UTC+1 in January) is 05:59 UTC.
        clock = FakeClock(dt.datetime(2026, 1, 5, 5, 59, tzinfo=UTC))
        emits = Emits()
        trigger = _trigger(harness.kernel, clock, cron="0 7 * * mon-fri", timezone="Europe/Madrid")
        await trigger.start(emits)
        await trigger.ready.wait()
        await clock.advance(30)
        assert emits.requests == []
        await clock.advance(31)  # 06:00:01 UTC = 07:00:01 Madrid
        assert [r.inputs["scheduled_for"] for r in emits.requests] == ["2026-01-05T06:00:00+00:00"]
        await clock.advance(24 * 3600)
        assert len(emits.requests) == 2
        keys = {r.idempotency_key for r in emits.requests}
        assert len(keys) == 2 and all(r.source == "trigger:schedule" for r in emits.requests)
        await trigger.stop()

    harness.call(scenario())


@pytest.mark.parametrize("missed,expected", [("once", 1), ("skip", 0)])
def test_missed_firings_after_a_restart(kernel, missed, expected):
    harness = kernel()

    async def scenario():
        clock = FakeClock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        first = Emits()
        trigger = _trigger(harness.kernel, clock, interval="10m", missed=missed)
        await trigger.start(first)
        await trigger.ready.wait()
        await clock.advance(600)
        assert len(first.requests) == 1
        await trigger.stop()
        # "Down" for an hour: six firings missed.
        await clock.advance(3600)
        second = Emits()
        again = _trigger(harness.kernel, clock, interval="10m", missed=missed)
        await again.start(second)
        await again.ready.wait()
        await clock.advance(0)
        assert len(second.requests) == expected
        if expected:
            assert second.requests[0].inputs["catch_up"] is True
            assert second.requests[0].inputs["scheduled_for"] == "2026-03-01T13:10:00+00:00"
        # The next regular firing follows the last one kept, not the restart time.
        await clock.advance(600)
        assert len(second.requests) == expected + 1
        assert second.requests[-1].inputs["scheduled_for"] == "2026-03-01T13:20:00+00:00"
        await again.stop()

    harness.call(scenario())


def test_restart_right_after_a_firing_does_not_fire_twice(kernel):
    harness = kernel()

    async def scenario():
        clock = FakeClock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        first = Emits()
        trigger = _trigger(harness.kernel, clock, cron="*/5 * * * *")
        await trigger.start(first)
        await trigger.ready.wait()
        await clock.advance(300)
        await trigger.stop()
        second = Emits()
        again = _trigger(harness.kernel, clock, cron="*/5 * * * *")
        await again.start(second)
        await again.ready.wait()
        await clock.advance(0)
        assert len(first.requests) == 1 and second.requests == []
        await again.stop()

    harness.call(scenario())


@pytest.mark.parametrize("settings,message", [
    ({}, "exactly one of 'cron' or 'interval'"),
    ({"cron": "* * *", }, "is not a cron expression"),
    ({"interval": "soon"}, "is not a duration"),
    ({"interval": 60, "timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_bad_settings_are_clear_errors(kernel, settings, message):
    harness = kernel()

    async def scenario():
        with pytest.raises(ConfigError, match=message):  # a bad cron is refused as the settings are read
            trigger = _trigger(harness.kernel, FakeClock(dt.datetime(2026, 1, 1, tzinfo=UTC)), **settings)
            await trigger.start(Emits())

    harness.call(scenario())


def test_missed_setting_is_validated():
    with pytest.raises(ConfigError, match="missed"):
        build_component(SPEC, {"interval": 5, "missed": "sometimes"})
