"""The engine's steps through the Celery executor: real `paperchain worker` processes, Redis, and the
database on both SQLite (one machine) and PostgreSQL."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from celery_support import MASTER_KEY, CeleryTestPlugin, start_worker, stop_worker

from paperchain.engine.celery.executor import CeleryExecutor
from paperchain.store.tables import step_attempts


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
    yield harness
    for process in started:
        stop_worker(process)


def rows(harness):
    return harness.call(harness.kernel.sql.read(sa.select(step_attempts).order_by(step_attempts.c.created)))


def test_a_multi_step_run_goes_through_a_worker(deployment, paperchain_document):
    assert isinstance(deployment.kernel.engine.executor, CeleryExecutor)
    deployment.start_worker()
    doc = paperchain_document("a.txt", "three small words")
    outcome = deployment.run({"name": "multi", "steps": [
        {"id": "text", "uses": "document.text"},  # cpu_bound: the worker's own process pool
        {"id": "echo", "uses": "test.echo", "needs": ["text"]},
        {"id": "sync", "uses": "test.sync_echo", "needs": ["text"]},
    ]}, files=[doc.path])
    run = outcome.runs[0]
    assert run.status == "succeeded", (run.error, {s: v.error for s, v in run.steps.items()})
    assert run.steps["text"].outputs["words"] == 3
    assert run.steps["echo"].outputs["text"] == "three small words"  # the worker read the blob store
    assert run.steps["echo"].outputs["pid"] != os.getpid()
    assert run.steps["echo"].outputs["key"] == f"{run.id}:echo"
    assert run.steps["sync"].outputs == {"sync": True, "inputs": {}}
    found = rows(deployment)
    assert sorted(r.step_id for r in found) == ["echo", "sync", "text"]
    assert {(r.state, r.fence) for r in found} == {("succeeded", 1)}
    assert {r.queue for r in found} == {"document", "test"}
