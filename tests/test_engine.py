"""The workflow engine through the real kernel: DAGs, expressions, retries, timeouts, failures."""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest
import sqlalchemy as sa

from paperchain.store import tables
from paperchain_sdk import ActionSpec, DocumentUpdate, InputError, Result, hookimpl
from paperchain_sdk.contracts import Action


@attrs.define
class EchoSettings:
    value: str = ""
    delay: float = 0.0
    fail_times: int = 0
    fail_with: str = "transient"


class Echo(Action):
    """Returns its value; can sleep, and fail its first `fail_times` attempts."""

    calls: list = []

    async def run(self, ctx, inputs):
        Echo.calls.append((ctx.run_id, ctx.step_id, ctx.attempt, time.monotonic()))
        if inputs.delay:
            await asyncio.sleep(inputs.delay)
        if ctx.attempt <= inputs.fail_times:
            if inputs.fail_with == "input":
                raise InputError("this input can never work")
            raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
        return {"value": inputs.value, "attempt": ctx.attempt, "key": ctx.idempotency_key}


class Annotate(Action):
    def run(self, ctx, inputs):  # a plain def: runs in a worker thread
        return Result(outputs={"length": len(ctx.document.text or "")},
                      document=DocumentUpdate(text="annotated text", metadata={"checked": True}, tags=["seen"]))


class TestPlugin:
    events: list = []
    lifecycle: list = []

    @hookimpl
    def paperchain_actions(self):
        return [
            ActionSpec(name="test.echo", impl=Echo, settings=EchoSettings, summary="echo"),
            ActionSpec(name="test.effect", impl=Echo, settings=EchoSettings, side_effects=True),
            ActionSpec(name="test.annotate", impl=Annotate),
        ]

    @hookimpl
    def paperchain_event(self, event):
        TestPlugin.events.append(event)

    @hookimpl
    async def paperchain_startup(self, kernel):
        TestPlugin.lifecycle.append(("startup", kernel.data_dir))

    @hookimpl
    def paperchain_shutdown(self):
        TestPlugin.lifecycle.append(("shutdown",))


@pytest.fixture
def kernel(paperchain_kernel):
    Echo.calls.clear()
    TestPlugin.events.clear()
    return paperchain_kernel(TestPlugin())


def step(id, uses="test.echo", **fields):
    return {"id": id, "uses": uses, **fields}


def test_outputs_flow_between_steps_through_expressions(kernel):
    outcome = kernel.run({"name": "flow", "inputs": {"who": "world"}, "steps": [
        step("a", **{"with": {"value": "hello"}}),
        step("b", needs=["a"], **{"with": {"value": "${{ steps.a.outputs.value }}, ${{ inputs.who }}"}}),
    ]})
    assert outcome.succeeded
    assert outcome.runs[0].steps["b"].outputs["value"] == "hello, world"


def test_independent_branches_run_in_parallel(kernel):
    outcome = kernel.run({"name": "fan", "steps": [
        step("root"),
        *(step(f"branch{i}", needs=["root"], **{"with": {"delay": 0.3}}) for i in range(4)),
        step("join", needs=[f"branch{i}" for i in range(4)]),
    ]})
    assert outcome.succeeded
    starts = sorted(t for _, s, _, t in Echo.calls if s.startswith("branch"))
    assert starts[-1] - starts[0] < 0.25, "the four branches should start together, not one after another"


def test_flaky_step_is_retried_with_backoff_then_succeeds(kernel):
    outcome = kernel.run({"name": "flaky", "steps": [
        step("flaky", retry={"attempts": 3, "backoff": 0.05, "jitter": False}, **{"with": {"fail_times": 2}}),
    ]})
    flaky = outcome.runs[0].steps["flaky"]
    assert outcome.succeeded and flaky.attempts == 3 and flaky.outputs["attempt"] == 3
    times = [t for _, s, _, t in Echo.calls if s == "flaky"]
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1  # exponential: 0.05 then 0.1


def test_always_failing_step_fails_the_run_other_branches_finish_dependents_skip(kernel):
    outcome = kernel.run({"name": "fails", "steps": [
        step("bad", retry={"attempts": 2, "backoff": 0.01}, **{"with": {"fail_times": 99}}),
        step("after-bad", needs=["bad"]),
        step("other", **{"with": {"delay": 0.1}}),
        step("after-other", needs=["other"]),
        step("notify", needs=["bad"], **{"if": "${{ failure() }}"}),
    ]})
    run = outcome.runs[0]
    assert run.status == "failed"
    assert run.error == "step 'bad' failed: RuntimeError: flaky failure on attempt 2"
    assert run.steps["bad"].attempts == 2
    assert run.steps["after-bad"].status == "skipped"
    assert run.steps["other"].status == run.steps["after-other"].status == "succeeded"
    assert run.steps["notify"].status == "succeeded"


def test_input_errors_are_not_retried(kernel):
    outcome = kernel.run({"name": "bad-input", "steps": [
        step("a", retry=5, **{"with": {"fail_times": 9, "fail_with": "input"}}),
    ]})
    a = outcome.runs[0].steps["a"]
    assert a.status == "failed" and a.attempts == 1 and "can never work" in a.error


def test_a_hanging_step_is_ended_by_its_timeout(kernel):
    started = time.monotonic()
    outcome = kernel.run({"name": "hang", "steps": [
        step("hang", timeout="0.2s", **{"with": {"delay": 30}}),
        step("fine"),
    ]})
    assert time.monotonic() - started < 5
    run = outcome.runs[0]
    assert run.steps["hang"].status == "failed" and run.steps["hang"].error == "timed out after 0.2 s"
    assert run.steps["fine"].status == "succeeded"


def test_continue_on_error_lets_the_run_succeed(kernel):
    outcome = kernel.run({"name": "tolerant", "steps": [
        step("optional", **{"continue-on-error": True, "with": {"fail_times": 1}}),
        step("next", needs=["optional"]),
    ]})
    assert outcome.succeeded
    assert outcome.runs[0].steps["optional"].status == "failed"
    assert outcome.runs[0].steps["next"].status == "succeeded"


def test_if_false_skips_and_bad_expression_fails_clearly(kernel):
    outcome = kernel.run({"name": "cond", "inputs": {"mode": "fast"}, "steps": [
        step("slow-only", **{"if": "inputs.mode == 'slow'"}),
        step("broken", **{"with": {"value": "${{ steps.nothing.outputs.x }}"}}),
    ]})
    run = outcome.runs[0]
    assert run.steps["slow-only"].status == "skipped"
    assert run.steps["broken"].status == "failed"
    assert "refers to something that does not exist" in run.steps["broken"].error


def test_settings_of_the_wrong_type_at_run_time(kernel):
    outcome = kernel.run({"name": "types", "steps": [step("a", **{"with": {"delay": "${{ 'soon' }}"}})]})
    error = outcome.runs[0].steps["a"].error
    assert "delay: expected float, got 'soon' (str)" in error


def test_side_effect_steps_get_a_stable_idempotency_key(kernel):
    outcome = kernel.run({"name": "effects", "steps": [
        step("send", uses="test.effect", retry={"attempts": 2, "backoff": 0.01}, **{"with": {"fail_times": 1}}),
    ]})
    run = outcome.runs[0]
    keys = {c for c in Echo.calls}
    assert run.steps["send"].outputs["key"] == f"{run.id}:send"
    assert len(keys) == 2  # two attempts …
    assert run.steps["send"].attempts == 2  # … one key, given to both


def test_actions_update_the_document_and_search_finds_it(kernel, paperchain_document):
    doc = paperchain_document("note.txt", "original words")
    outcome = kernel.run({"name": "annotate", "steps": [
        {"id": "text", "uses": "document.text"},
        {"id": "note", "uses": "test.annotate", "needs": ["text"]},
        step("check", needs=["note"], **{"with": {"value": "${{ document.text }}|${{ document.metadata.checked }}"}}),
    ]}, files=[doc.path])
    run = outcome.runs[0]
    assert run.steps["note"].outputs == {"length": len("original words")}
    assert run.steps["check"].outputs["value"] == "annotated text|True"

    async def search():
        hits, _next = await kernel.kernel.documents.search.query("annotated", None)
        documents = tables.documents
        row = await kernel.kernel.sql.first(sa.select(documents.c.name, documents.c.tags)
                                            .where(documents.c.id == hits[0].id))
        return len(hits), (row.name, row.tags)

    assert kernel.call(search()) == (1, ("note.txt", '["seen"]'))


def test_cpu_bound_builtin_runs_in_the_process_pool(kernel, paperchain_document):
    doc = paperchain_document("letter.txt", "Grüße aus Köln")
    outcome = kernel.run({"name": "pool", "steps": [
        {"id": "text", "uses": "document.text"},
        step("show", needs=["text"], **{"with": {"value": "${{ document.text }}"}}),
    ]}, files=[doc.path])
    assert outcome.runs[0].steps["text"].outputs["words"] == 3
    assert outcome.runs[0].steps["show"].outputs["value"] == "Grüße aus Köln"
    assert kernel.kernel.engine.executor.pool.pool is not None


def test_events_and_lifecycle_hooks(kernel):
    kernel.run({"name": "ev", "steps": [step("a")]})
    types = [e.type for e in TestPlugin.events]
    assert types[:2] == ["batch.created", "run.started"]
    assert {"step.started", "step.succeeded", "run.succeeded", "batch.finished"} <= set(types)
    assert [e.seq for e in TestPlugin.events] == sorted(e.seq for e in TestPlugin.events)
    assert TestPlugin.lifecycle[-1][0] == "startup"


def test_priority_decides_who_gets_a_free_slot(paperchain_kernel):
    Echo.calls.clear()
    harness = paperchain_kernel(TestPlugin(), config={"paperchain": {"concurrency": 1}})
    harness.run({"name": "prio", "steps": [
        step("first", **{"with": {"delay": 0.1}}),
        step("low", needs=["first"], priority=0),
        step("high", needs=["first"], priority=10),
    ]})
    order = [s for _, s, _, _ in Echo.calls]
    assert order == ["first", "high", "low"]


def test_many_runs_in_a_batch_each_get_their_document(kernel, paperchain_document):
    docs = [paperchain_document(f"d{i}.txt", f"document number {i}") for i in range(20)]
    outcome = kernel.run({"name": "batch", "steps": [
        {"id": "text", "uses": "document.text"},
        step("name", needs=["text"], **{"with": {"value": "${{ document.name }}"}}),
    ]}, files=[d.path for d in docs])
    assert outcome.succeeded and len(outcome.runs) == 20
    assert [r.steps["name"].outputs["value"] for r in outcome.runs] == [f"d{i}.txt" for i in range(20)]
