"""The event trigger: an error workflow fires on run.failed; loops are refused with a reason."""

from __future__ import annotations

import asyncio
import logging

from triggers_support import Recorder, batches, settle, workflow

from paperchain.trigger_host import TriggerHost


def test_error_workflow_fires_on_another_workflows_failure(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        await k.workflows.save(workflow("fragile", {"manual": {}}, fail=True))
        await k.workflows.save(workflow("steady", {"manual": {}}))
        await k.workflows.save(workflow("on-error", {"event": {"types": ["run.failed"], "workflows": ["fragile", "steady"]}}))
        host = TriggerHost(k)
        await host.start()
        await k.submit("steady", inputs={"x": 1})
        failed_batch = await k.submit("fragile", inputs={"x": 2})
        runs = await seen.wait(lambda e: e.type == "run.succeeded" and e.data["workflow"] == "on-error")
        await settle(k)
        await host.stop()
        rows = await batches(k, "on-error")
        assert len(runs) == 1 and len(rows) == 1
        inputs, source = rows[0]["inputs"], rows[0]["source"]
        assert source == "trigger:event"
        assert inputs["event"]["type"] == "run.failed" and inputs["event"]["data"]["batch"] == failed_batch
        assert inputs["trigger_chain"] == ["fragile"]

    harness.call(scenario())


def test_a_workflow_triggered_by_its_own_failures_is_stopped(kernel, caplog):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        # Fails, and listens to every run.failed: its own failure would start it again, forever.
        await k.workflows.save(workflow("ouroboros", {"event": {"types": ["run.failed"]}}, fail=True))
        await k.workflows.save(workflow("seed", {"manual": {}}, fail=True))
        host = TriggerHost(k)
        await host.start()
        with caplog.at_level(logging.WARNING, logger="paperchain.triggers"):
            await k.submit("seed")
            await seen.wait(lambda e: e.type == "run.failed" and e.data["workflow"] == "ouroboros")
            await asyncio.sleep(0.5)
            await settle(k)
        trigger = host.running["ouroboros"]["event"]
        await host.stop()
        assert len([e for e in seen.of("batch.created") if e.data["workflow"] == "ouroboros"]) == 1
        assert any("loop refused" in r and "seed -> ouroboros -> ouroboros" in r for r in trigger.refused)
        assert "loop refused" in caplog.text

    harness.call(scenario())


def test_chains_longer_than_max_depth_are_refused(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        # a fails -> b (fails) -> c (fails) -> d; with max_depth 2, d is refused.
        await k.workflows.save(workflow("a", {"manual": {}}, fail=True))
        for prev, name in (("a", "b"), ("b", "c"), ("c", "d")):
            on = {"event": {"types": ["run.failed"], "workflows": [prev], "max_depth": 2}}
            await k.workflows.save(workflow(name, on, fail=True))
        host = TriggerHost(k)
        await host.start()
        await k.submit("a")
        await seen.wait(lambda e: e.type == "run.failed" and e.data["workflow"] == "c")
        await asyncio.sleep(0.5)
        await settle(k)
        refused = host.running["d"]["event"].refused
        await host.stop()
        started = [e.data["workflow"] for e in seen.of("batch.created")]
        assert started == ["a", "b", "c"]
        assert refused and "exceeds max_depth 2" in refused[0]

    harness.call(scenario())


def test_where_filter(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        await k.workflows.save(workflow("watcher", {"event": {"types": ["custom.*"], "where": {"level": "high"}}}))
        host = TriggerHost(k)
        await host.start()
        await k.emit("custom.alert", "x", {"level": "low"})
        await k.emit("other.alert", "y", {"level": "high"})
        await k.emit("custom.alert", "z", {"level": "high"})
        await seen.wait(lambda e: e.type == "run.succeeded")
        await settle(k)
        await host.stop()
        assert len(seen.of("batch.created")) == 1

    harness.call(scenario())
