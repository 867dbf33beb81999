"""The threshold trigger: fires once per crossing, survives restarts, measures metrics over a window."""

from __future__ import annotations

import asyncio

import pytest
from triggers_support import batches, workflow

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
        for _ in range(3):
            await k.submit("fragile")
        for _ in range(200):
            if await batches(k, "alarm"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # more evaluations: still true, no second firing
        await host.stop()
        rows = await batches(k, "alarm")
        assert len(rows) == 1 and rows[0]["inputs"]["value"] == 3.0
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


GLOBEX_DOCUMENTS = "SELECT count(*) FROM documents WHERE tenant = 'globex'"


def test_a_tenants_workflow_cannot_read_another_tenants_rows_with_a_query(kernel, database_url, tmp_path):
    """The attack: acme's editor saves a workflow whose threshold query counts globex's documents (a
    number is enough to read anything, a bit at a time). The host refuses to start it, with the
    reason; the same query in the operator's deployment-wide workflow does read it."""
    harness = kernel({"paperchain": {"database_url": database_url}})
    k = harness.kernel

    async def scenario():
        letter = tmp_path / "letter.txt"
        letter.write_text("globex's private letter")
        await k.documents.ingest(letter, tenant="globex")
        on = {"threshold": {"query": GLOBEX_DOCUMENTS, "condition": "> 0", "interval": "50ms"}}
        await k.workflows.save(workflow("spy", on), tenant="acme")
        host = TriggerHost(k)
        await host.start()
        try:
            reason = host.failures[("acme:spy", "threshold")]
            assert "a tenant's workflow may not use 'query'" in reason and "'acme'" in reason
            assert "acme:spy" not in host.running or "threshold" not in host.running["acme:spy"]
        finally:
            await host.stop()
        assert await batches(k, "spy") == []

        spy = _trigger(k, query=GLOBEX_DOCUMENTS, condition="> 0")
        spy.attach(k, "acme:spy")
        with pytest.raises(ConfigError, match="may not use 'query'") as caught:
            await spy.start(Emits())
        assert 'metric = "run.failed"' in caught.value.hint
        await spy.stop()

        operator = _trigger(k, query=GLOBEX_DOCUMENTS, condition="> 0")  # deployment-wide: the operator's
        await operator.start(Emits())
        assert await operator.measure() == 1.0
        await operator.stop()

    harness.call(scenario())


def test_a_tenants_metric_counts_only_its_own_tenants_events(kernel, database_url):
    harness = kernel({"paperchain": {"database_url": database_url}})
    k = harness.kernel

    async def scenario():
        await k.workflows.save(workflow("alarm", {"manual": {}}), tenant="acme")
        emits = Emits()
        trigger = _trigger(k, metric="test.alarm", window="10m", condition=">= 2")
        trigger.attach(k, "acme:alarm")
        await trigger.start(emits)
        deployment_wide = _trigger(k, metric="test.alarm", window="10m", condition=">= 2")
        await deployment_wide.start(Emits())
        for tenant in ("globex", "globex", "globex", "acme"):
            await k.emit("test.alarm", data={"tenant": tenant}, durable=True)
        for _ in range(100):  # the tenant of each event is looked up in a task
            if await trigger.measure() == 1.0:
                break
            await asyncio.sleep(0.02)
        assert await trigger.measure() == 1.0  # acme's one, not globex's three
        assert await deployment_wide.measure() == 4.0  # the operator's counts every tenant's
        assert await trigger.evaluate() is False and emits.requests == []
        await k.emit("test.alarm", data={"tenant": "acme"}, durable=True)
        for _ in range(100):
            if await trigger.evaluate():
                break
            await asyncio.sleep(0.02)
        assert len(emits.requests) == 1 and emits.requests[0].inputs["value"] == 2.0
        await trigger.stop()
        await deployment_wide.stop()

    harness.call(scenario())
