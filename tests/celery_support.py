"""Helpers for the Celery executor's tests: test components and real worker processes.

Every process shares the database, Redis and an S3 bucket (moto), nothing else, as on many
machines. A worker here is ``paperchain worker``'s own code (``engine.celery.process.run_worker``) in a
subprocess, with this module's plugin instead of entry points (a test's components are not
installed distributions): ``python tests/celery_support.py DATA_DIR DATABASE_URL BROKER_URL ...``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from paperchain_sdk import ActionSpec, Artifact, DocumentUpdate, ExporterSpec, InputError, Result, hookimpl
from paperchain_sdk.contracts import Action, Exporter

HERE = Path(__file__).resolve().parent
MASTER_KEY = "c2VjcmV0LWtleS1mb3ItY2VsZXJ5LXRlc3RzLTMyYiE="  # base64 of 32 bytes: every process's blobs


class Echo(Action):
    async def run(self, ctx, inputs):
        return {"step": ctx.step_id, "key": ctx.idempotency_key, "pid": os.getpid(),
                "text": ctx.document.read_bytes().decode() if ctx.document else None}


class SyncEcho(Action):
    def run(self, ctx, inputs):
        return {"sync": True, "inputs": dict(ctx.inputs)}


class Sleepy(Action):
    async def run(self, ctx, inputs):
        await asyncio.sleep(float(ctx.inputs.get("sleep", 30)))
        return {"slept": True}


class Flaky(Action):
    """Fails its first attempt (retryable), succeeds after."""

    async def run(self, ctx, inputs):
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"attempt": ctx.attempt}


class Refuses(Action):
    async def run(self, ctx, inputs):
        raise InputError("this input is unusable", hint="give another")


class Produces(Action):
    """An artifact (bytes and a file) and a document update, stored by the worker."""

    async def run(self, ctx, inputs):
        path = ctx.scratch() / "notes.txt"
        path.write_text("from a file")
        return Result(outputs={"made": 2},
                      artifacts=[Artifact(name="data.bin", media_type="application/octet-stream", data=b"\x00\x01"),
                                 Artifact(name="notes.txt", media_type="text/plain", path=str(path))],
                      document=DocumentUpdate(text="updated text", tags=["worked"]))


class Counted(Action):
    """A side effect: one line per call in the file ``inputs.ledger`` names (after ``inputs.sleep`` s)."""

    async def run(self, ctx, inputs):
        await asyncio.sleep(float(ctx.inputs.get("sleep", 0)))
        with open(ctx.inputs["ledger"], "a") as ledger:
            ledger.write(json.dumps({"key": ctx.idempotency_key, "pid": os.getpid()}) + "\n")
        return {"counted": True}


class Manifest(Exporter):
    """Per document: its name and bytes. Per batch: each item's document bytes and its artifacts' sizes
    (read from the files the worker materialized)."""

    def export(self, doc, options):
        return Artifact(name="one.json", media_type="application/json",
                        data=json.dumps({"name": doc.name, "bytes": doc.read_bytes().decode()}).encode())

    def export_batch(self, batch, options):
        items = [{"status": i.status, "bytes": i.document.read_bytes().decode(),
                  "artifacts": {a.name: len(a.read_bytes()) for a in i.artifacts}} for i in batch.items]
        return Artifact(name="batch.json", media_type="application/json", data=json.dumps(items).encode())


class CeleryTestPlugin:
    @hookimpl
    def paperchain_exporters(self):
        return [ExporterSpec(name="test.manifest", impl=Manifest, format="json"),
                ExporterSpec(name="test.batch_manifest", impl=Manifest, format="json", scope="batch")]

    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name=f"test.{name}", impl=impl) for name, impl in (
            ("echo", Echo), ("sync_echo", SyncEcho), ("sleepy", Sleepy), ("flaky", Flaky), ("refuses", Refuses),
            ("produces", Produces), ("counted", Counted))]


def start_worker(data_dir: Path, database_url: str, broker_url: str, blob_url: str, *, lease: float = 3.0,
                 queues: str = "",
                 concurrency: int = 2, log: Path | None = None) -> subprocess.Popen:
    """A worker process; returns once it has joined ``members`` (its log says so)."""
    log = log or data_dir.with_suffix(".log")
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PAPERCHAIN_MASTER_KEY": MASTER_KEY, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    env.pop("PAPERCHAIN_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), str(data_dir), database_url, broker_url, blob_url, str(lease), queues,
         str(concurrency)], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    process.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while "Paperchain worker" not in log.read_text() or "ready" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_worker(process)
            raise RuntimeError(f"the worker did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def stop_worker(process: subprocess.Popen, *, kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _main(data_dir: str, database_url: str, broker_url: str, blob_url: str, lease: str, queues: str,
          concurrency: str) -> int:
    import logging

    from paperchain.config import Config, KernelSettings
    from paperchain.engine.celery.app import queue_for
    from paperchain.engine.celery.process import run_worker
    from paperchain.kernel import Kernel

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = KernelSettings(database_url=database_url, executor="celery", broker_url=broker_url, blob_url=blob_url)
    kernel = Kernel(Config(source="the Celery tests", data_dir=Path(data_dir), kernel=settings),
                    plugins=[CeleryTestPlugin()])
    chosen = queues.split(",") if queues else sorted({"default", *(queue_for(e.spec.name)
                                                                   for e in kernel.registry.entries())})
    return run_worker(kernel, broker_url=broker_url, queues=chosen, concurrency=int(concurrency), lease=float(lease))


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
