"""The threshold trigger: fires once per crossing, survives restarts, measures metrics over a window."""

from __future__ import annotations

import pytest
from triggers_support import workflow

import paperchain_triggers
from paperchain.trigger_host import TriggerHost
from paperchain_sdk import ConfigError
from paperchain_sdk.testing import build_component

SPEC = {s.name: s for s in paperchain_triggers.paperchain_triggers()}["threshold"]
# Alarms since the last "clear": flaps as the test emits one or the other.
FLAPPING = ("SELECT count(*) FROM events WHERE type = 'test.alarm' AND seq > "
            "(SELECT coalesce(max(seq), 0) FROM events WHERE type = 'test.clear')")


class Emits:
    def __init__(self):
        self.requests = []

    async def __call__(self, request):
        self.requests.append(request)
        return f"batch-{len(self.requests)}"


def _trigger(kernel, **settings):
    trigger = build_component(SPEC, {"interval": "1h", **settings})
    trigger.attach(kernel, "alarm")
    return trigger


def test_flapping_condition_fires_once_per_crossing_and_remembers_across_restart(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        emits = Emits()
        trigger = _trigger(k, query=FLAPPING, condition=">= 2")
        await trigger.start(emits)

        async def step(kind=None):
            if kind:
                await k.emit(kind, durable=True)
            return await trigger.evaluate()

        assert await step() is False
        assert await step("test.alarm") is False
        assert await step("test.alarm") is True and len(emits.requests) == 1
        assert await step("test.alarm") is True and len(emits.requests) == 1  # still true: quiet
        await trigger.stop()
        again = _trigger(k, query=FLAPPING, condition=">= 2")  # a restart while it holds
        await again.start(emits)
        assert await again.evaluate() is True and len(emits.requests) == 1
        trigger = again
        assert await step("test.clear") is False
        assert await step("test.alarm") is False
        assert await step("test.alarm") is True and len(emits.requests) == 2
        assert emits.requests[1].inputs["value"] == 2.0
        assert emits.requests[0].idempotency_key != emits.requests[1].idempotency_key
        await trigger.stop()

    harness.call(scenario())


def test_failed_runs_in_the_last_ten_minutes_through_the_host(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        await k.workflows.save(workflow("fragile", {"manual": {}}, fail=True))
        on = {"threshold": {"metric": "run.failed", "window": "10m", "condition": "> 2", "interval": "50ms"}}
        await k.workflows.save(workflow("alarm", on))
        host = TriggerHost(k)
        await host.start()
        import asyncio

        for _ in range(3):
            await k.submit("fragile")
        for _ in range(200):
            async with k.db.execute("SELECT count(*) FROM batches WHERE workflow = 'alarm'") as cursor:
                if (await cursor.fetchone())[0]:
                    break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # more evaluations: still true, no second firing
        await host.stop()
        async with k.db.execute("SELECT inputs FROM batches WHERE workflow = 'alarm'") as cursor:
            rows = await cursor.fetchall()
        assert len(rows) == 1 and '"value": 3.0' in rows[0][0]
        for _ in range(100):
            if not k._batches:
                break
            await asyncio.sleep(0.05)

    harness.call(scenario())


@pytest.mark.parametrize("settings,message", [
    ({}, "exactly one of 'metric' or 'query'"),
    ({"metric": "run.failed", "condition": "lots"}, "is not a comparison"),
    ({"query": "DELETE FROM events"}, "must be a SELECT"),
])
def test_bad_settings(kernel, settings, message):
    harness = kernel()

    async def scenario():
        with pytest.raises(ConfigError, match=message):
            await _trigger(harness.kernel, **settings).start(Emits())

    harness.call(scenario())


def test_a_query_cannot_write(kernel):
    harness = kernel()

    async def scenario():
        trigger = _trigger(harness.kernel, query="WITH x AS (SELECT 1) DELETE FROM events")
        await trigger.start(Emits())
        with pytest.raises(ConfigError, match="the query failed"):
            await trigger.measure()
        await trigger.stop()

    harness.call(scenario())
