"""Batches: record one durably, ingest its files into runs, run them under the workflow's
concurrency, cancel, retry and resume them, and fail a batch that cannot go on."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from paperchain_sdk import (
    Artifact,
    Batch,
    BatchItem,
    ConfigError,
    ConflictError,
    NotFoundError,
    PaperchainError,
)

from ..documents import now
from .loop import RunLoop
from .persistence import RunStore
from .state import DOCUMENT_ENTRY, FINAL, UNFINISHED_RUN, RunState, new_id, reason
from .workflow import Workflow

log = logging.getLogger("paperchain.engine.runner")

_INGEST_AT_ONCE = 16
_LARGE = 64 * 1024


def _elide_large(value):
    if isinstance(value, str) and len(value) > _LARGE:
        return f"[{len(value)} characters, left out of batch views]"
    if isinstance(value, dict):
        return {k: _elide_large(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide_large(v) for v in value]
    return value


class Batches:
    def __init__(self, kernel, store: RunStore, loop: RunLoop):
        self.k = kernel
        self.store = store
        self.loop = loop
        self._run_limits: dict[str, asyncio.Semaphore] = {}
        self._batch_keys: dict[str, str] = {}
        self.run_tasks: dict[str, asyncio.Task] = {}  # runs waiting or running in this process
        self.cancelled: set[str] = set()  # runs a user cancelled (not a shutdown)

    # -- creating -------------------------------------------------------------------------------

    async def create(self, workflow: Workflow, paths=(), inputs: dict | None = None, *, documents=(),
                     source: str = "cli", idempotency_key: str = "", created_by: str = "",
                     tenant: str = "") -> tuple[str, bool]:
        if idempotency_key:
            known = self._batch_keys.get(idempotency_key)
            if known is None:
                found = await self.store.batch_for_key(idempotency_key)
                known = self._batch_keys.get(idempotency_key) or found  # a twin may have claimed it meanwhile
            if known:
                return known, False
        batch_id = new_id("batch")
        if idempotency_key:  # claimed before the first await, so a concurrent twin sees it
            self._batch_keys[idempotency_key] = batch_id
        entries = [str(Path(p).resolve()) for p in paths] + [DOCUMENT_ENTRY + d for d in documents]
        await self.store.save_workflow(workflow)
        owner = self.k.cluster.batches if self.k.cluster is not None else None
        if owner is not None:  # ours before its row exists: no other server's sweep sees it unowned
            await owner.claim(batch_id)
        holder = await self.store.claim_batch({
            "id": batch_id, "workflow": workflow.name, "workflow_hash": workflow.hash, "status": "ingesting",
            "created": now(), "finished": None, "inputs": json.dumps(inputs or {}), "paths": json.dumps(entries),
            "total": max(len(entries), 1), "idempotency_key": idempotency_key or None, "source": source,
            "created_by": created_by or None, "tenant": tenant or "",
        })
        if holder != batch_id:  # another process (or engine) recorded a batch of this key first
            self._batch_keys[idempotency_key] = holder
            if owner is not None:
                await owner.release(batch_id, finished=True)
            return holder, False
        await self.k.emit("batch.created", batch_id, {"workflow": workflow.name, "documents": len(entries), "source": source})
        await self.ingest(batch_id, workflow, entries, inputs or {}, source, start=0, tenant=tenant or "")
        return batch_id, True

    async def ingest(self, batch_id: str, workflow: Workflow, paths: list[str], inputs: dict, source: str, start: int,
                     tenant: str) -> None:
        """Store the batch's files from ``start`` on (the batch's tenant's) and record a run for each."""
        pending = []
        if not paths and start == 0:
            run = self.new_run(batch_id, 0, "inputs", workflow, None, inputs, source, tenant)
            pending.append(self.store.add_run(run))

        async def one(seq: int) -> RunState:
            try:
                entry = paths[seq]
                if entry.startswith(DOCUMENT_ENTRY):
                    document = await self.k.documents.get(entry[len(DOCUMENT_ENTRY):], text=False)
                else:
                    document = await self.k.documents.ingest(entry, tenant=tenant)
                return self.new_run(batch_id, seq, "document", workflow, document.id, inputs, source, tenant)
            except Exception as exc:
                if isinstance(exc, PaperchainError):
                    error = exc.message + (f" ({exc.hint})" if exc.hint else "")
                else:  # otherwise a batch that failed here would fail again at every resume
                    log.exception("could not store %s", entry)
                    error = f"the file could not be stored: {reason(exc)}"
                run = self.new_run(batch_id, seq, "document", workflow, None, inputs, source, tenant)
                run.status, run.error, run.finished = "failed", self.loop.results.hide_server_paths(error), now()
                return run

        window = asyncio.Semaphore(_INGEST_AT_ONCE)  # hashing and copying overlap, in input order

        async def windowed(seq: int) -> RunState:
            async with window:
                return await one(seq)

        for run in await asyncio.gather(*map(windowed, range(start, len(paths)))):
            pending.append(self.store.add_run(run))
        pending.append(self.store.batch_running(batch_id))
        await asyncio.gather(*pending)

    def new_run(self, batch_id, seq, kind, workflow, document_id, inputs, source, tenant) -> RunState:
        defaults = {k: (v.get("default") if isinstance(v, dict) else v) for k, v in workflow.inputs.items()}
        return RunState(id=new_id("run"), batch_id=batch_id, seq=seq, kind=kind, workflow=workflow,
                        document_id=document_id, inputs={**defaults, **inputs}, source=source, tenant=tenant)

    # -- running --------------------------------------------------------------------------------

    async def supervised(self, batch_id: str, work) -> str:
        """Await a batch's work; a failure that escapes it fails the batch (never left ``running``)."""
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("batch %s could not go on", batch_id)
            return await self.fail(batch_id, self.loop.results.hide_server_paths(f"the batch could not go on: {reason(exc)}"))

    async def fail(self, batch_id: str, why: str) -> str:
        await self.store.fail_batch(batch_id, why)
        await self.k.emit("batch.finished", batch_id, {"status": "failed", "error": why}, durable=True)
        return "failed"

    async def workflow_of(self, batch_id: str) -> tuple[Workflow, str]:
        """The workflow version a batch runs, and the batch's tenant."""
        row = await self.store.batch(batch_id)
        if row is None:
            raise ConfigError(f"There is no batch {batch_id}.")
        return await self.store.workflow(row.workflow_hash), row.tenant

    async def run(self, batch_id: str) -> str:
        workflow, tenant = await self.workflow_of(batch_id)
        runs = await self.store.load_runs(batch_id, workflow, ("document", "inputs"), tenant)
        limit = self._run_limits.setdefault(
            workflow.name, asyncio.Semaphore(min(workflow.concurrency or 10**9, self.k.config.kernel.run_concurrency))
        )

        async def guarded(run: RunState):
            try:
                async with limit:
                    await self.loop.execute_run(run)
            except asyncio.CancelledError:
                if run.id not in self.cancelled:
                    raise  # a shutdown: the run stays unfinished and is resumed on the next start
                await self.mark_cancelled(run)
            except Exception as exc:  # noqa: BLE001 - an engine failure ends this run only
                await self.fail_run(run, exc)
            finally:
                self.run_tasks.pop(run.id, None)

        tasks = []
        for run in runs:
            if run.status in UNFINISHED_RUN:
                self.run_tasks[run.id] = task = asyncio.create_task(guarded(run))
                tasks.append(task)
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if workflow.batch_steps:
            await self.run_batch_steps(batch_id, workflow, tenant)
        status = "failed" if await self.store.unsucceeded_runs(batch_id) else "succeeded"
        await self.store.batch_finished(batch_id, status)
        await self.k.emit("batch.finished", batch_id, {"status": status, "workflow": workflow.name}, durable=True)
        return status

    async def run_batch_steps(self, batch_id: str, workflow: Workflow, tenant: str) -> None:
        existing = await self.store.load_runs(batch_id, workflow, ("batch",), tenant)
        if not existing:
            await self.store.add_run(self.new_run(batch_id, -1, "batch", workflow, None, {}, "batch", tenant))
            existing = await self.store.load_runs(batch_id, workflow, ("batch",), tenant)  # the one recorded
        run = existing[0]
        if run.status in UNFINISHED_RUN:
            run.batch = await self.load(batch_id, workflow.name)
            await self.loop.execute_run(run)

    async def resume(self, batch_id: str) -> str:
        workflow, tenant = await self.workflow_of(batch_id)
        row = await self.store.batch(batch_id)
        assert row is not None  # workflow_of refused an unknown batch
        count, last = await self.store.ingested(batch_id)
        paths = json.loads(row.paths)
        start = 0 if count == 0 or last is None else last + 1
        if start < len(paths) or count == 0:
            await self.ingest(batch_id, workflow, paths, json.loads(row.inputs), row.source or "resume",
                              start=start, tenant=tenant)
        await self.k.emit("batch.resumed", batch_id, {"workflow": workflow.name})
        return await self.run(batch_id)

    # -- cancelling and retrying ----------------------------------------------------------------

    async def cancel_run(self, run_id: str) -> str:
        row = await self.store.run_summary(run_id)
        if row is None:
            raise NotFoundError(f"there is no run {run_id}.", hint="GET /api/v1/runs lists them")
        if row.status not in UNFINISHED_RUN:
            raise ConflictError(f"the run {run_id} has already {row.status}.", hint="only queued or running runs can be cancelled")
        task = self.run_tasks.get(run_id)
        self.cancelled.add(run_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:  # recorded but not running in this process (e.g. left by a stopped server)
            await self.store.cancel_recorded_run(run_id)
            await self.k.emit("run.cancelled", run_id, {}, durable=True)
        return "cancelled"

    async def mark_cancelled(self, run: RunState) -> None:
        run.status, run.finished, run.error = "cancelled", now(), "cancelled by a user"
        for state in run.steps.values():
            if state.status == "running":
                state.status, state.finished, state.error = "cancelled", now(), "cancelled by a user"
                self.store.save_step(run, state)
        await self.store.save_run(run)
        await self.k.emit("run.cancelled", run.id, run.event_data(), durable=True)

    async def fail_run(self, run: RunState, exc: Exception) -> None:
        """Record a run the engine itself failed on (not one of its steps) as failed, with the error."""
        log.error("run %s failed in the engine", run.id, exc_info=exc)
        why = self.loop.results.hide_server_paths(f"the engine failed on this run: {reason(exc)}")
        run.status, run.finished, run.error = "failed", now(), why
        try:
            for state in run.steps.values():
                if state.status not in FINAL:
                    state.status, state.finished, state.error = "failed", now(), why
                    self.store.save_step(run, state)
            await self.store.save_run(run)
            await self.k.emit("run.failed", run.id, run.event_data(), durable=True)
        except Exception:
            log.exception("could not record the failure of run %s", run.id)
            raise

    async def retry_run(self, run_id: str) -> str:
        row = await self.store.run_summary(run_id)
        if row is None:
            raise NotFoundError(f"there is no run {run_id}.", hint="GET /api/v1/runs lists them")
        status = row.status
        if status not in ("failed", "cancelled"):
            raise ConflictError(f"the run {run_id} is {status}; only failed or cancelled runs can be retried.")
        if row.kind == "document" and row.document_id is None:
            raise ConflictError(f"the run {run_id} failed before its file was stored, so there is nothing to retry.",
                                hint="upload the file again and start a new run")
        await self.store.reopen_run(run_id, row.batch_id)
        self.cancelled.discard(run_id)
        await self.k.emit("run.retried", run_id, {"batch": row.batch_id}, durable=True)
        return row.batch_id

    # -- the batch as batch-scoped components see it --------------------------------------------

    async def load(self, batch_id: str, workflow_name: str) -> Batch:
        """Each run with its document, outputs, artifacts. So that a batch of any size fits in
        memory, documents come without their text and output values over 64 KiB are replaced by
        a note of their size."""
        items = []
        for run in await self.store.batch_items(batch_id):
            outputs = {row.step_id: _elide_large(json.loads(row.outputs or "{}"))
                       for row in await self.store.step_outputs(run.id)}
            artifacts = [
                Artifact(name=a.name, media_type=a.media_type, path=str(self.k.blobs.path(a.sha256)),
                         sha256=a.sha256, size=a.size)
                for a in await self.store.run_artifacts(run.id)
            ]
            document = await self.k.documents.get(run.document_id, text=False) if run.document_id else None
            items.append(BatchItem(run_id=run.id, status=run.status, document=document, outputs=outputs,
                                   artifacts=artifacts))
        return Batch(id=batch_id, workflow=workflow_name, items=items)
