"""The engine's contract through the Celery executor, beside the local pool: the same runs, retries,
timeouts, errors, artifacts and cancels, with real `paperchain worker` processes, Redis and an S3 bucket
(moto), on SQLite (one machine) and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import sqlalchemy as sa
from celery_support import MASTER_KEY, CeleryTestPlugin, start_worker, stop_worker

from paperchain.engine.celery.executor import CeleryExecutor
from paperchain.engine.executor import LocalExecutor
from paperchain.outcomes import load_run
from paperchain.store.tables import runs, step_attempts


@pytest.fixture
def deployment(paperchain_kernel, redis_url, s3_blob_url, tmp_path, monkeypatch):
    """A serving kernel with executor = "celery", and ``start_worker()`` for workers on its database, broker
    and bucket (each with a data directory of its own)."""
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", MASTER_KEY)
    harness = paperchain_kernel(CeleryTestPlugin(), config={"paperchain": {
        "executor": "celery", "broker_url": redis_url, "blob_url": s3_blob_url}})
    started = []

    def start(**options):
        process = start_worker(tmp_path / f"worker-{len(started)}", harness.kernel.config.database_url, redis_url,
                               s3_blob_url, **options)
        started.append(process)
        return process

    harness.start_worker = start
    harness.workers = started
    yield harness
    for process in started:
        stop_worker(process)


@pytest.fixture(params=["local", "celery"])
def engine_on(request, paperchain_kernel):
    """A kernel whose steps run on the local pool, or on a Celery worker."""
    if request.param == "local":
        harness = paperchain_kernel(CeleryTestPlugin())
        assert isinstance(harness.kernel.engine.executor, LocalExecutor)
        return harness
    harness = request.getfixturevalue("deployment")
    assert isinstance(harness.kernel.engine.executor, CeleryExecutor)
    harness.start_worker()
    return harness


def attempt_rows(harness):
    return harness.call(harness.kernel.sql.read(sa.select(step_attempts).order_by(step_attempts.c.created)))


def errors(run):
    return run.error, {s: v.error for s, v in run.steps.items()}


def test_a_multi_step_run(engine_on, paperchain_document):
    doc = paperchain_document("a.txt", "three small words")
    outcome = engine_on.run({"name": "multi", "steps": [
        {"id": "text", "uses": "document.text"},  # cpu_bound: a process pool (the worker's own on Celery)
        {"id": "echo", "uses": "test.echo", "needs": ["text"]},
        {"id": "sync", "uses": "test.sync_echo", "needs": ["text"]},
    ]}, files=[doc.path])
    run = outcome.runs[0]
    assert run.status == "succeeded", errors(run)
    assert run.steps["text"].outputs["words"] == 3
    assert run.steps["echo"].outputs["text"] == "three small words"  # a worker reads the document from the blobs
    assert run.steps["echo"].outputs["key"] == f"{run.id}:echo"
    assert run.steps["sync"].outputs == {"sync": True, "inputs": {}}
    on_celery = isinstance(engine_on.kernel.engine.executor, CeleryExecutor)
    assert (run.steps["echo"].outputs["pid"] != os.getpid()) is on_celery
    found = attempt_rows(engine_on)
    if on_celery:
        assert sorted(r.step_id for r in found) == ["echo", "sync", "text"]
        assert {(r.state, r.fence) for r in found} == {("succeeded", 1)}
        assert {r.queue for r in found} == {"document", "test"}  # one queue per capability
        sent = {r.step_id: json.loads(r.payload) for r in found}
        assert "three small words" not in found[0].payload  # the document's bytes never travel
        assert sent["echo"]["context"]["document"]["text"] == "three small words"  # its extracted text does
        assert all("path" not in p.get("document", p.get("context", {}).get("document")) for p in sent.values())
    else:
        assert found == []


def test_retries_errors_and_timeouts(engine_on):
    outcome = engine_on.run({"name": "failing", "steps": [
        {"id": "flaky", "uses": "test.flaky", "retry": {"attempts": 2, "backoff": 0}},
        {"id": "refuses", "uses": "test.refuses", "retry": {"attempts": 3, "backoff": 0}},
        {"id": "slow", "uses": "test.sleepy", "timeout": "1s"},
    ]}, inputs={"sleep": 20})
    run = outcome.runs[0]
    assert run.steps["flaky"].status == "succeeded" and run.steps["flaky"].outputs == {"attempt": 2}
    assert run.steps["flaky"].attempts == 2
    assert run.steps["refuses"].status == "failed" and run.steps["refuses"].attempts == 1  # not retryable
    assert run.steps["refuses"].error == "this input is unusable (give another)"
    assert run.steps["slow"].status == "failed" and run.steps["slow"].error == "timed out after 1 s"
    if isinstance(engine_on.kernel.engine.executor, CeleryExecutor):
        states = {(r.step_id, r.attempt): (r.state, r.retryable) for r in attempt_rows(engine_on)}
        assert states == {("flaky", 1): ("failed", 1), ("flaky", 2): ("succeeded", None),
                          ("refuses", 1): ("failed", 0), ("slow", 1): ("failed", 1)}


def test_artifacts_and_a_document_update(engine_on, paperchain_document):
    doc = paperchain_document("a.txt", "original")
    outcome = engine_on.run({"name": "produce", "steps": [{"id": "make", "uses": "test.produces"}]},
                            files=[doc.path])
    run = outcome.runs[0]
    assert run.status == "succeeded", errors(run)
    made = {a["name"]: a for a in run.steps["make"].outputs["artifacts"]}
    kernel = engine_on.kernel
    assert kernel.blobs.read_bytes(made["data.bin"]["sha256"]) == b"\x00\x01"
    assert kernel.blobs.read_bytes(made["notes.txt"]["sha256"]) == b"from a file"
    document = engine_on.call(kernel.documents.get(run.document_id))
    assert document.text == "updated text" and "worked" in document.tags


def test_document_and_batch_exporters(engine_on, tmp_path):
    files = []
    for i in range(2):
        (tmp_path / f"doc-{i}.txt").write_text(f"text of {i}")
        files.append(tmp_path / f"doc-{i}.txt")
    outcome = engine_on.run({"name": "exports", "steps": [{"id": "one", "uses": "test.manifest"}],
                             "batch-steps": [{"id": "all", "uses": "test.batch_manifest"}]}, files=files)
    assert [r.status for r in outcome.runs] == ["succeeded", "succeeded"], [errors(r) for r in outcome.runs]
    kernel = engine_on.kernel
    one = json.loads(kernel.blobs.read_bytes(outcome.runs[0].steps["one"].outputs["sha256"]))
    assert one["bytes"].startswith("text of ")
    assert outcome.batch_run is not None and outcome.batch_run.status == "succeeded", errors(outcome.batch_run)
    items = json.loads(kernel.blobs.read_bytes(outcome.batch_run.steps["all"].outputs["sha256"]))
    sizes = {json.loads(kernel.blobs.read_bytes(r.steps["one"].outputs["sha256"]))["bytes"]: r.steps["one"].outputs["size"]
             for r in outcome.runs}
    assert sorted(i["bytes"] for i in items) == ["text of 0", "text of 1"]  # each item's document, read there
    assert all(i["artifacts"] == {"one.json": sizes[i["bytes"]]} for i in items)  # and its artifact's file


def test_cancelling_a_run_stops_its_step(engine_on):
    kernel = engine_on.kernel
    workflow = kernel.load_workflow({"name": "long", "steps": [{"id": "wait", "uses": "test.sleepy"}]})

    async def scenario():
        batch = await kernel.engine.submit(workflow, inputs={"sleep": 60})
        running = asyncio.create_task(kernel.engine.run_batch(batch))
        run_id = await kernel.sql.scalar(sa.select(runs.c.id).where(runs.c.batch_id == batch))
        await _until(lambda: _step_running(kernel, run_id))
        assert await kernel.engine.cancel_run(run_id) == "cancelled"
        await running
        return run_id

    run_id = engine_on.call(scenario())
    assert engine_on.call(load_run(kernel, run_id)).status == "cancelled"
    if isinstance(kernel.engine.executor, CeleryExecutor):
        (row,) = attempt_rows(engine_on)
        assert row.state == "cancelled"
        assert engine_on.call(_until(lambda: _logged(engine_on.workers[0].log, "its lease was lost")))


async def _step_running(kernel, run_id) -> bool:
    if isinstance(kernel.engine.executor, CeleryExecutor):
        return await kernel.sql.scalar(sa.select(sa.func.count()).select_from(step_attempts).where(
            step_attempts.c.run_id == run_id, step_attempts.c.state == "running")) > 0
    return bool(kernel.engine.executor.inline._running)


async def _logged(log, text) -> bool:
    return text in log.read_text()


async def _until(check, timeout: float = 30):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)
    return True


def test_a_step_longer_than_the_lease_keeps_it_by_renewal(deployment):
    deployment.start_worker(lease=1.5)
    outcome = deployment.run({"name": "renewed", "steps": [{"id": "wait", "uses": "test.sleepy"}]},
                             inputs={"sleep": 4})
    assert outcome.runs[0].status == "succeeded"
    (row,) = attempt_rows(deployment)
    assert (row.state, row.fence, row.sends) == ("succeeded", 1, 1)  # never reaped, never re-sent


def test_a_serve_restart_adopts_the_attempt_its_worker_still_runs(deployment, paperchain_kernel, redis_url,
                                                                  s3_blob_url, tmp_path):
    deployment.start_worker()
    ledger = tmp_path / "ledger.jsonl"
    kernel = deployment.kernel
    workflow = kernel.load_workflow({"name": "adopted", "steps": [{"id": "count", "uses": "test.counted"}]})

    async def start_then_stop():
        batch = await kernel.engine.submit(workflow, inputs={"ledger": str(ledger), "sleep": 2})
        kernel.start_batch(batch)
        run_id = await kernel.sql.scalar(sa.select(runs.c.id).where(runs.c.batch_id == batch))
        await _until(lambda: _step_running(kernel, run_id))
        return batch, run_id

    batch, run_id = deployment.call(start_then_stop())
    deployment.close()  # the server stops while the worker runs the step
    again = paperchain_kernel(CeleryTestPlugin(), config={"paperchain": {
        "executor": "celery", "broker_url": redis_url, "blob_url": s3_blob_url,
        "database_url": kernel.config.database_url}})
    assert again.call(again.kernel.engine.resume_batch(batch)) == "succeeded"
    run = again.call(load_run(again.kernel, run_id))
    assert run.status == "succeeded" and run.steps["count"].attempts == 1
    assert len(ledger.read_text().splitlines()) == 1  # run once, on the worker, not again
    (row,) = attempt_rows(again)
    assert (row.state, row.fence) == ("succeeded", 1)


def test_a_redelivered_message_is_dropped_by_the_fence(deployment, tmp_path):
    """Redis redelivers an unacknowledged message after the visibility timeout; the reaper may re-send a
    queued one too. Here the attempt's id is sent three times before any worker runs: one claims it,
    the other two find it claimed (or finished) and are dropped."""
    from paperchain.engine.celery import app as celery_app

    ledger = tmp_path / "ledger.jsonl"
    kernel = deployment.kernel
    executor = kernel.engine.executor
    workflow = kernel.load_workflow({"name": "once", "steps": [{"id": "count", "uses": "test.counted"}]})

    async def scenario():
        batch = await kernel.engine.submit(workflow, inputs={"ledger": str(ledger)})
        running = asyncio.create_task(kernel.engine.run_batch(batch))
        await _until(lambda: _queued(kernel))
        (row,) = await kernel.sql.read(sa.select(step_attempts))
        for _ in range(2):
            await asyncio.to_thread(celery_app.send, executor.app, row.id, row.queue, row.timeout)
        await asyncio.to_thread(deployment.start_worker, concurrency=3)
        await running
        return row.id

    attempt_id = deployment.call(scenario())
    assert len(ledger.read_text().splitlines()) == 1
    (row,) = attempt_rows(deployment)
    assert (row.id, row.state, row.fence) == (attempt_id, "succeeded", 1)
    assert deployment.call(_until(lambda: _count(deployment.workers[0].log, "dropped, it is claimed", 2)))


async def _queued(kernel) -> bool:
    return await kernel.sql.scalar(sa.select(sa.func.count()).select_from(step_attempts)) > 0


async def _count(log, text, times) -> bool:
    return log.read_text().count(text) == times


def test_a_killed_workers_attempt_is_reaped_and_finished_once_by_another(deployment, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    kernel = deployment.kernel
    first = deployment.start_worker(lease=2)
    workflow = kernel.load_workflow({"name": "survives", "steps": [{"id": "count", "uses": "test.counted"}]})

    async def scenario():
        batch = await kernel.engine.submit(workflow, inputs={"ledger": str(ledger), "sleep": 3})
        running = asyncio.create_task(kernel.engine.run_batch(batch))
        run_id = await kernel.sql.scalar(sa.select(runs.c.id).where(runs.c.batch_id == batch))
        await _until(lambda: _step_running(kernel, run_id))
        await asyncio.to_thread(stop_worker, first, kill=True)  # SIGKILL mid-step: no result, no ack
        await asyncio.to_thread(deployment.start_worker, lease=2)
        await running
        return run_id

    run_id = deployment.call(scenario())
    assert deployment.call(load_run(kernel, run_id)).status == "succeeded"
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["pid"] == deployment.workers[1].pid  # once, by the second worker
    (row,) = attempt_rows(deployment)
    assert (row.state, row.fence, row.sends) == ("succeeded", 2, 2)  # claimed twice, re-sent once


def test_a_batch_survives_a_killed_worker_with_each_side_effect_done_once_unless_reaped(deployment, tmp_path):
    """Two workers share a batch; one is SIGKILLed mid-batch. Every run succeeds; an attempt the dead worker
    held is reaped and finished by the survivor (fence 2), and only such an attempt may have acted twice
    (the kill fell between its effect and its result: the step's idempotency key is there for that)."""
    ledger = tmp_path / "ledger.jsonl"
    kernel = deployment.kernel
    doomed = deployment.start_worker(lease=2, concurrency=2)
    deployment.start_worker(lease=2, concurrency=2)
    workflow = kernel.load_workflow({"name": "many", "steps": [
        {"id": "count", "uses": "test.counted"}, {"id": "echo", "uses": "test.echo", "needs": ["count"]}]})
    files = []
    for i in range(12):
        (tmp_path / f"doc-{i}.txt").write_text(f"document {i}")
        files.append(tmp_path / f"doc-{i}.txt")

    async def held_by_doomed() -> bool:
        return await kernel.sql.scalar(sa.select(sa.func.count()).select_from(step_attempts).where(
            step_attempts.c.state == "running", step_attempts.c.worker.like(f"worker:%:{doomed.pid}:%"))) > 0

    async def scenario():
        batch = await kernel.engine.submit(workflow, files, inputs={"ledger": str(ledger), "sleep": 0.5})
        running = asyncio.create_task(kernel.engine.run_batch(batch))
        await _until(held_by_doomed)
        await asyncio.to_thread(stop_worker, doomed, kill=True)
        return await running

    assert deployment.call(scenario()) == "succeeded"
    found = attempt_rows(deployment)
    assert len(found) == 24 and {r.state for r in found} == {"succeeded"}
    counted = {r.run_id: r for r in found if r.step_id == "count"}
    assert any(r.fence == 2 for r in counted.values())  # the dead worker's attempts were taken over
    assert all(r.fence in (1, 2) for r in found)
    keys = [json.loads(line)["key"] for line in ledger.read_text().splitlines()]
    assert sorted(set(keys)) == sorted(f"{run_id}:count" for run_id in counted)  # every effect happened
    for key in keys:
        if keys.count(key) > 1:  # only an attempt that was reaped acted twice
            assert counted[key.split(":")[0]].fence == 2, key


def test_a_lost_message_is_sent_again_by_the_reaper(deployment, redis_url):
    """Redis lost the message (restarted without persistence): the attempt stays queued in the database,
    and the reaper sends it again once nobody claimed it in time."""
    import redis

    kernel = deployment.kernel
    executor = kernel.engine.executor
    executor.resend_after = executor.reaper.resend_after = 0.5
    workflow = kernel.load_workflow({"name": "lost", "steps": [{"id": "echo", "uses": "test.echo"}]})

    async def scenario():
        batch = await kernel.engine.submit(workflow, inputs={})
        running = asyncio.create_task(kernel.engine.run_batch(batch))
        await _until(lambda: _queued(kernel))
        await asyncio.sleep(0.2)  # sent by now
        await asyncio.to_thread(lambda: redis.Redis.from_url(redis_url).flushdb())
        await asyncio.to_thread(deployment.start_worker)
        return await asyncio.wait_for(running, 60)  # never, without the reaper

    assert deployment.call(scenario()) == "succeeded"
    (row,) = attempt_rows(deployment)
    assert (row.state, row.fence) == ("succeeded", 1) and row.sends >= 2


def test_an_attempt_the_broker_refused_is_sent_once_it_answers(deployment):
    """The row is the truth: a send that fails (Redis away) leaves the attempt queued for the reaper,
    not failed (failing it would let the engine retry while the reaper also sends the first attempt)."""
    kernel = deployment.kernel
    executor = kernel.engine.executor
    executor.resend_after = executor.reaper.resend_after = 0.5
    deployment.start_worker()
    refused = []
    send = executor.send

    async def broker_away_once(attempt_id, queue, timeout):
        if not refused:
            refused.append(attempt_id)
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await send(attempt_id, queue, timeout)

    executor.send = executor.reaper.send = broker_away_once
    workflow = kernel.load_workflow({"name": "refused", "steps": [{"id": "echo", "uses": "test.echo"}]})
    outcome = deployment.run(workflow, inputs={})
    assert outcome.runs[0].status == "succeeded" and outcome.runs[0].steps["echo"].attempts == 1
    (row,) = attempt_rows(deployment)
    assert refused == [row.id] and (row.state, row.fence, row.sends) == ("succeeded", 1, 2)


def test_the_payload_holds_what_the_step_changed_not_the_deployments_secrets(paperchain_kernel, redis_url):
    from paperchain.engine.executor import StepAttempt

    harness = paperchain_kernel(config={"paperchain": {"executor": "celery", "broker_url": redis_url},
                                        "components": {"document.text": {"password": "deployment-secret"}}})
    kernel = harness.kernel
    entry = kernel.registry.get("document.text")
    options = kernel.registry.settings_for(entry, {"max_pages": 5}, where="the test's step")
    assert options.password == "deployment-secret"  # what the component gets, here and on the worker
    attempt = StepAttempt(run_id="run_1", step_id="text", attempt=1, component="document.text", method="run",
                          idempotency_key="run_1:text", args=(_context(), options))
    payload = kernel.engine.executor.payload(attempt)
    assert json.loads(payload)["options"] == {"max_pages": 5}
    assert "deployment-secret" not in payload


def _context():
    from paperchain_sdk import RunContext

    return RunContext(run_id="run_1", step_id="text", workflow="w", idempotency_key="run_1:text")
