"""One run, one step or one expression can never take down its batch, nor leave it `running`."""

from __future__ import annotations

import asyncio

import attrs
import pytest
import sqlalchemy as sa

from paperchain.harness import KernelHarness
from paperchain.store.database import Database
from paperchain.store.tables import batches, runs
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action


@attrs.define
class EchoSettings:
    value: str = ""


class Echo(Action):
    async def run(self, ctx, inputs):
        return {"value": inputs.value}


class EchoPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.echo", impl=Echo, settings=EchoSettings)]


@pytest.fixture
def kernel(paperchain_kernel):
    return paperchain_kernel(EchoPlugin())


@pytest.fixture
def documents(paperchain_document):
    """Two small documents and one over the sandbox's range limit (100,000)."""
    return [paperchain_document("small1.txt", "one"), paperchain_document("big.txt", "x" * 100_001),
            paperchain_document("small2.txt", "two")]


def statuses(outcome):
    return {run.document_name: run.status for run in outcome.runs}


def test_an_overflowing_range_in_if_fails_only_that_step(kernel, documents):
    outcome = kernel.run({"name": "ranged", "steps": [
        {"id": "check", "uses": "test.echo", "if": "${{ (range(document.size)|length) > 0 }}"},
        {"id": "after", "uses": "test.echo", "needs": ["check"]},
    ]}, files=[d.path for d in documents])
    assert statuses(outcome) == {"small1.txt": "succeeded", "big.txt": "failed", "small2.txt": "succeeded"}
    assert outcome.status == "failed"  # finished: not left running
    big = outcome.runs[1].steps["check"]
    assert big.status == "failed" and "range" in big.error and "step 'check'" in big.error


@pytest.mark.parametrize("value, said", [
    ("${{ format('{0} {1}', document.name) }}", "no argument {1}"),
    ("${{ format('{0.__globals__}', contains) }}", "only numbered fields"),
    ("${{ 'a' * 10**12 }}", "too large"),
    ("${{ fromJSON('[' * 50000 + ']' * 50000) }}", "fromJSON"),
])
def test_any_expression_error_in_with_fails_its_step_clearly(kernel, documents, value, said):
    outcome = kernel.run({"name": "bad-with", "steps": [
        {"id": "a", "uses": "test.echo", "with": {"value": value}},
        {"id": "b", "uses": "test.echo"},
    ]}, files=[d.path for d in documents[:1]])
    run = outcome.runs[0]
    assert run.steps["a"].status == "failed" and said in run.steps["a"].error
    assert run.steps["b"].status == "succeeded"


def test_the_format_escape_reveals_nothing_through_a_run(kernel, documents, monkeypatch):
    monkeypatch.setenv("PAPERCHAIN_TEST_SECRET", "planted-secret-value")
    outcome = kernel.run({"name": "escape", "steps": [{"id": "leak", "uses": "test.echo", "with": {
        "value": "${{ format('{0.__globals__[re].enum.sys.modules[os].environ[PAPERCHAIN_TEST_SECRET]}', contains) }}",
    }}]}, files=[d.path for d in documents[:1]])
    leak = outcome.runs[0].steps["leak"]
    assert leak.status == "failed"
    assert "planted-secret-value" not in repr(outcome)


def test_an_engine_failure_in_one_run_fails_that_run_and_the_others_go_on(kernel, documents, monkeypatch):
    engine = kernel.kernel.engine.loop
    context = engine.context

    def broken_for_big(run, step):
        if run.document is not None and run.document.name == "big.txt":
            raise RuntimeError("simulated engine bug")
        return context(run, step)

    monkeypatch.setattr(engine, "context", broken_for_big)
    outcome = kernel.run({"name": "one-bad", "steps": [{"id": "a", "uses": "test.echo"}]},
                         files=[d.path for d in documents])
    assert statuses(outcome) == {"small1.txt": "succeeded", "big.txt": "failed", "small2.txt": "succeeded"}
    assert "RuntimeError: simulated engine bug" in outcome.runs[1].steps["a"].error
    assert outcome.status == "failed"


def test_a_memory_error_in_one_run_fails_only_that_run(kernel, documents, monkeypatch):
    engine = kernel.kernel.engine.loop
    execute_run = engine.execute_run

    async def dies_for_big(run):
        if run.document_id and (await kernel.kernel.documents.get(run.document_id, text=False)).name == "big.txt":
            raise MemoryError("simulated")
        return await execute_run(run)

    monkeypatch.setattr(engine, "execute_run", dies_for_big)
    outcome = kernel.run({"name": "one-bad-run", "steps": [{"id": "a", "uses": "test.echo"}]},
                         files=[d.path for d in documents])
    assert statuses(outcome) == {"small1.txt": "succeeded", "big.txt": "failed", "small2.txt": "succeeded"}
    assert outcome.runs[1].error == "the engine failed on this run: MemoryError: simulated"
    assert outcome.status == "failed"


async def _write(url: str, statement) -> None:
    database = await Database.open(url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await database.close()


def test_resume_fails_a_batch_that_cannot_go_on_and_finishes_the_others(paperchain_kernel, paperchain_document, tmp_path):
    doc = paperchain_document("a.txt", "text")
    first = paperchain_kernel(EchoPlugin())
    engine = first.kernel.engine
    workflow = first.kernel.load_workflow({"name": "echoes", "steps": [{"id": "a", "uses": "test.echo"}]})
    doomed = first.call(engine.submit(workflow, [doc.path]))
    fine = first.call(engine.submit(workflow, [doc.path]))
    url = first.config.database_url
    first.close()
    # With the kernel stopped, the doomed batch's workflow version stops reading.
    asyncio.run(_write(url, sa.update(batches).where(batches.c.id == doomed).values(workflow_hash="gone")))

    again = KernelHarness([EchoPlugin()], data_dir=first.kernel.data_dir, database_url=url)
    try:
        outcomes = {o.id: o for o in again.resume()}
        assert outcomes[doomed].status == "failed" and outcomes[fine].status == "succeeded"
        assert "could not go on" in outcomes[doomed].runs[0].error
        sql = again.kernel.sql
        count = sa.select(sa.func.count())
        assert again.call(sql.scalar(count.where(batches.c.status.in_(("ingesting", "running"))))) == 0
        assert again.call(sql.scalar(count.where(runs.c.status.in_(("queued", "running"))))) == 0
        assert again.resume() == []  # nothing left to crash on at the next start
    finally:
        again.close()


def test_a_file_that_fails_to_store_in_any_way_fails_only_its_run(kernel, documents, monkeypatch):
    store = kernel.kernel.documents
    ingest = store.ingest

    async def broken_for_big(path, *args, **kwargs):
        if str(path).endswith("big.txt"):
            raise OSError(5, "Input/output error")
        return await ingest(path, *args, **kwargs)

    monkeypatch.setattr(store, "ingest", broken_for_big)
    outcome = kernel.run({"name": "ingest", "steps": [{"id": "a", "uses": "test.echo"}]},
                         files=[d.path for d in documents])
    assert [run.status for run in outcome.runs] == ["succeeded", "failed", "succeeded"]
    assert outcome.runs[1].error == "the file could not be stored: OSError: [Errno 5] Input/output error"
    assert outcome.status == "failed"
