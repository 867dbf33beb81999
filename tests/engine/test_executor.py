"""The executor interface: the engine hands every step attempt to it, and only to it."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from paperchain.engine.executor import Executor, InlineExecutor, StepAttempt
from paperchain.outcomes import load_run
from paperchain.store.tables import runs, steps
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action

CALLED: list[str] = []


class Echo(Action):
    async def run(self, ctx, inputs):
        CALLED.append(ctx.step_id)
        return {"step": ctx.step_id, "key": ctx.idempotency_key}


class Sleepy(Action):
    async def run(self, ctx, inputs):
        await asyncio.sleep(30)


class ExecPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.echo", impl=Echo), ActionSpec(name="test.sleepy", impl=Sleepy)]


class Recording(Executor):
    """Passes attempts to the real executor and notes each; may adopt attempts left running."""

    name = "recording"

    def __init__(self, inner: Executor, adopted: dict | None = None):
        self.inner, self.seen, self.adopted, self.offered = inner, [], adopted or {}, []

    def submit(self, attempt):
        self.seen.append(attempt)
        return self.inner.submit(attempt)

    async def cancel(self, attempt_id):
        await self.inner.cancel(attempt_id)

    async def adopt(self, attempts):
        self.offered.extend(attempts)
        futures = {}
        for attempt in attempts:
            if attempt.step_id in self.adopted:
                future = asyncio.get_running_loop().create_future()
                future.set_result(self.adopted[attempt.step_id])
                futures[attempt.id] = future
        return futures

    async def close(self):
        await self.inner.close()


@pytest.fixture(autouse=True)
def _called():
    CALLED.clear()


@pytest.fixture
def kernel(paperchain_kernel):
    return paperchain_kernel(ExecPlugin())


def use(kernel, executor):
    engine = kernel.kernel.engine
    engine.executor = engine.loop.executor = executor
    return executor


def test_every_attempt_is_submitted_to_the_executor_by_ids(kernel, paperchain_document):
    doc = paperchain_document("a.txt", "some words here")
    recording = use(kernel, Recording(kernel.kernel.engine.executor))
    outcome = kernel.run({"name": "two", "steps": [
        {"id": "text", "uses": "document.text"},  # cpu_bound: the process pool behind the same interface
        {"id": "echo", "uses": "test.echo", "needs": ["text"]},
    ]}, files=[doc.path])
    run = outcome.runs[0]
    assert run.status == "succeeded" and run.steps["text"].outputs["words"] == 3
    assert [(a.step_id, a.component, a.method, a.cpu_bound) for a in recording.seen] == [
        ("text", "document.text", "run", True), ("echo", "test.echo", "run", False)]
    assert all(a.run_id == run.id and a.attempt == 1 and a.document_id == run.document_id for a in recording.seen)


def test_an_attempt_left_running_is_adopted_when_the_executor_takes_it_over(kernel, paperchain_document):
    doc = paperchain_document("a.txt", "text")
    engine = kernel.kernel.engine
    workflow = kernel.kernel.load_workflow({"name": "adopt", "steps": [
        {"id": "a", "uses": "test.echo"}, {"id": "b", "uses": "test.echo", "needs": ["a"]}]})
    batch = kernel.call(engine.submit(workflow, [doc.path]))
    sql = kernel.kernel.sql
    run_id = kernel.call(sql.scalar(sa.select(runs.c.id).where(runs.c.batch_id == batch)))

    async def as_a_stopped_process_left_it():
        async with sql.transaction() as tx:
            await tx.execute(sa.update(runs).where(runs.c.id == run_id).values(status="running"))
            await tx.execute(sa.insert(steps).values(run_id=run_id, step_id="a", uses="test.echo", status="running",
                                                     attempts=1, outputs="{}", idempotency_key=f"{run_id}:a",
                                                     continued=0))

    kernel.call(as_a_stopped_process_left_it())
    recording = use(kernel, Recording(engine.executor, adopted={"a": {"step": "a", "from": "elsewhere"}}))
    assert kernel.call(engine.resume_batch(batch)) == "succeeded"
    outcome = kernel.call(load_run(kernel.kernel, run_id))
    assert [a.id for a in recording.offered] == [f"{run_id}/a/1"]
    assert outcome.steps["a"].outputs == {"step": "a", "from": "elsewhere"} and outcome.steps["a"].attempts == 1
    assert CALLED == ["b"]  # a was not run again here


def test_a_local_executor_adopts_nothing_so_the_attempt_runs_again_with_its_key(kernel):
    executor = kernel.kernel.engine.executor
    attempt = StepAttempt(run_id="run_x", step_id="a", attempt=1, component="test.echo", method="run",
                          idempotency_key="run_x:a")
    assert kernel.call(executor.adopt([attempt])) == {}


def test_cancel_stops_an_inline_attempt_and_a_timeout_ends_one(kernel):
    registry = kernel.kernel.registry

    async def scenario():
        inline = InlineExecutor(registry)
        attempt = StepAttempt(run_id="r", step_id="s", attempt=1, component="test.sleepy", method="run",
                              idempotency_key="r:s", args=(None, None))
        future = inline.submit(attempt)
        await asyncio.sleep(0)
        await inline.cancel(attempt.id)
        with pytest.raises(asyncio.CancelledError):
            await future
        timed = StepAttempt(run_id="r", step_id="t", attempt=1, component="test.sleepy", method="run",
                            idempotency_key="r:t", timeout=0.05, args=(None, None))
        with pytest.raises(asyncio.TimeoutError):
            await inline.submit(timed)
        await inline.close()

    kernel.call(scenario())
