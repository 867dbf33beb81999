"""The trigger host against a real kernel: start, failures isolated, restarts on workflow edits."""

from __future__ import annotations

import asyncio
import logging
import types

import attrs
import sqlalchemy as sa

from paperchain.store import tables
from paperchain.trigger_host import TriggerHost
from paperchain_sdk import ActionSpec, RunRequest, TriggerSpec, hookimpl
from paperchain_sdk.contracts import Action, Trigger

STARTED: list[tuple[str, dict]] = []


@attrs.define(kw_only=True)
class PingSettings:
    note: str = ""
    fail: bool = False


class Ping(Trigger):
    """Emits one run request when started (with its settings as inputs); fails when told to."""

    def attach(self, kernel, workflow):
        self.workflow = workflow

    async def start(self, emit):
        if self.settings.fail:
            raise RuntimeError("ping refuses to start (test)")
        STARTED.append((self.workflow, {"note": self.settings.note}))
        self.batch = await emit(RunRequest(workflow=self.workflow, inputs={"note": self.settings.note},
                                           idempotency_key=f"ping:{self.workflow}:{self.settings.note}"))

    async def stop(self):
        STARTED.append((self.workflow, {"stopped": True}))


class Echo(Action):
    def run(self, ctx, inputs):
        return {"note": ctx.inputs.get("note")}


@hookimpl
def _triggers():
    return [TriggerSpec(name="ping", impl=Ping, settings=PingSettings)]


@hookimpl
def _actions():
    return [ActionSpec(name="test.echo", impl=Echo)]


plugin = types.ModuleType("paperchain_pingtest")
plugin.paperchain_triggers = _triggers
plugin.paperchain_actions = _actions


def _wf(name, on):
    return {"name": name, "on": on, "steps": [{"id": "echo", "uses": "test.echo"}]}


async def _sources(kernel):
    batches = tables.batches
    rows = await kernel.sql.read(sa.select(batches.c.workflow, batches.c.source, batches.c.inputs)
                                 .order_by(batches.c.created, batches.c.id))
    return [(r.workflow, r.source, r.inputs) for r in rows]


async def _drain(kernel):
    for _ in range(250):
        if not kernel._batches:
            return
        await asyncio.sleep(0.02)


def test_host_starts_triggers_isolates_failures_and_restarts(paperchain_kernel, caplog):
    STARTED.clear()
    harness = paperchain_kernel(plugin)
    kernel = harness.kernel

    async def scenario():
        await kernel.workflows.save(_wf("alpha", {"ping": {"note": "a1"}, "manual": {}}))
        await kernel.workflows.save(_wf("broken", {"ping": {"fail": True}}))
        await kernel.workflows.save(_wf("plain", {"manual": {}}))
        host = TriggerHost(kernel)
        with caplog.at_level(logging.ERROR, logger="paperchain.trigger_host"):
            await host.start()
        assert set(host.running) == {"alpha", "broken", "plain"} and list(host.running["alpha"]) == ["ping"]
        assert host.running["broken"] == {} and "ping refuses to start" in host.failures[("broken", "ping")]
        assert "trigger 'ping' of workflow 'broken' did not start" in caplog.text
        await _drain(kernel)
        rows = await _sources(kernel)
        assert [(w, s) for w, s, _ in rows] == [("alpha", "trigger:ping")]

        # A new version restarts the triggers with the new settings.
        await kernel.workflows.save(_wf("alpha", {"ping": {"note": "a2"}}))
        await asyncio.gather(*host._pending)
        await _drain(kernel)
        assert ("alpha", {"stopped": True}) in STARTED and STARTED[-1] == ("alpha", {"note": "a2"})
        assert len(await _sources(kernel)) == 2

        # Disabled: stopped and not restarted; enabled again: started (same key: no second run).
        await kernel.workflows.set_enabled("alpha", False)
        await asyncio.gather(*host._pending)
        assert "alpha" not in host.running
        await kernel.workflows.set_enabled("alpha", True)
        await asyncio.gather(*host._pending)
        assert "ping" in host.running["alpha"]
        await _drain(kernel)
        assert len(await _sources(kernel)) == 2

        await kernel.workflows.delete("alpha")
        await asyncio.gather(*host._pending)
        assert "alpha" not in host.running
        await host.stop()
        assert host.running == {} and host._on_event not in kernel.listeners

    harness.call(scenario())


def test_emit_refuses_another_workflow(paperchain_kernel):
    harness = paperchain_kernel(plugin)
    kernel = harness.kernel

    async def scenario():
        await kernel.workflows.save(_wf("one", {"manual": {}}))
        await kernel.workflows.save(_wf("two", {"manual": {}}))
        host = TriggerHost(kernel)
        emit = host._emitter("one", "ping")
        batch = await emit(RunRequest(workflow="", inputs={"note": "x"}))
        assert batch.startswith("batch")
        try:
            await emit(RunRequest(workflow="two"))
        except Exception as exc:  # noqa: BLE001
            assert "starts only the workflow it is declared in" in str(exc)
        else:
            raise AssertionError("emit started another workflow")
        await _drain(kernel)

    harness.call(scenario())
