"""Durable execution of workflows: batches of runs, each a DAG of steps.

Everything that matters is written through the journal as whole rows: a run or step is never
only in memory once it has started. After a crash, ``resume()`` picks up every unfinished batch:
documents not yet ingested are ingested, steps that finished keep their outputs and are not run
again, steps that were in flight run again with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import shutil
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

import attrs

from paperchain_sdk import (
    Artifact, Batch, BatchItem, ConfigError, ConflictError, Document, DocumentUpdate, Findings, InputError,
    NotFoundError, PaperchainError, Prediction, Result, RunContext,
)
from paperchain_sdk.contracts import STEP_METHOD

from ..documents import now
from . import expressions
from .slots import PrioritySlots
from .steplogs import StepLogs, current as current_step
from .workflow import Step, Workflow, build_workflow

log = logging.getLogger(__name__)

FINAL = {"succeeded", "failed", "skipped"}
_INGEST_AT_ONCE = 16
UNFINISHED_RUN = ("queued", "running")
RETRYABLE_STEP = ("failed", "skipped", "cancelled")


_LARGE = 64 * 1024


def _elide_large(value):
    if isinstance(value, str) and len(value) > _LARGE:
        return f"[{len(value)} characters, left out of batch views]"
    if isinstance(value, dict):
        return {k: _elide_large(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide_large(v) for v in value]
    return value


def _reason(exc: BaseException) -> str:
    """An exception as one line for a run's or step's error: its type, then its message."""
    text = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {text[:500]}"


DOCUMENT_ENTRY = "document:"  # a batch entry naming a stored document instead of a file


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@attrs.define
class StepState:
    id: str
    uses: str
    status: str = "pending"
    attempts: int = 0
    outputs: dict = attrs.Factory(dict)
    outputs_json: str = "{}"  # encoded once, when the step finishes
    error: str | None = None
    error_detail: str | None = None
    started: str | None = None
    finished: str | None = None
    continued: bool = False

    def ok(self) -> bool:
        return self.status == "succeeded" or (self.status == "failed" and self.continued)


@attrs.define
class RunState:
    id: str
    batch_id: str
    seq: int
    kind: str  # document | inputs | batch
    workflow: Workflow
    document_id: str | None
    inputs: dict
    status: str = "queued"
    created: str = attrs.Factory(now)
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    source: str = ""
    steps: dict[str, StepState] = attrs.Factory(dict)
    document: Document | None = None
    batch: Batch | None = None

    def row(self) -> dict:
        return {
            "id": self.id, "batch_id": self.batch_id, "seq": self.seq, "kind": self.kind,
            "workflow": self.workflow.name, "workflow_hash": self.workflow.hash, "document_id": self.document_id,
            "source": self.source, "status": self.status, "inputs": json.dumps(self.inputs), "created": self.created,
            "started": self.started, "finished": self.finished, "error": self.error,
            "idempotency_key": f"{self.batch_id}:{self.seq}",
        }


class Engine:
    def __init__(self, kernel):
        self.k = kernel
        cfg = kernel.config.kernel
        self.slots = PrioritySlots(cfg.concurrency)
        self._run_limits: dict[str, asyncio.Semaphore] = {}
        self._pool = None
        self._random = random.Random()
        self._workflows: dict[str, Workflow] = {}
        self.listeners: list[Callable[[RunState], None]] = []  # told when each run finishes
        # The process environment workflows may read, computed once (not per step).
        self._env = {k: os.environ[k] for k in cfg.expose_env if k in os.environ}
        self._env.update({k: v for k, v in os.environ.items() if k.startswith("PAPERCHAIN_VAR_")})
        self._work_base = str(kernel.work_dir(""))
        data_dir = Path(kernel.data_dir)
        self._data_prefixes = tuple({str(data_dir.absolute()) + os.sep, str(data_dir.resolve()) + os.sep})
        self._batch_keys: dict[str, str] = {}
        self._run_tasks: dict[str, asyncio.Task] = {}  # runs waiting or running in this process
        self._cancelled: set[str] = set()  # runs a user cancelled (not a shutdown)
        self.logs = StepLogs(kernel.journal)
        logging.getLogger().addHandler(self.logs)

    # -- batches --------------------------------------------------------------------------

    async def submit(self, workflow: Workflow, paths=(), inputs: dict | None = None, *, documents=(),
                     source: str = "cli", idempotency_key: str = "", created_by: str = "") -> str:
        """Record a batch durably (before any work), ingest its files, create its runs.

        ``paths`` are files to ingest, ``documents`` ids of stored documents; with neither, one run
        gets ``inputs`` alone. A repeated non-empty ``idempotency_key`` returns the first batch's id.
        """
        return (await self.create_batch(workflow, paths, inputs, documents=documents, source=source,
                                        idempotency_key=idempotency_key, created_by=created_by))[0]

    async def create_batch(self, workflow: Workflow, paths=(), inputs: dict | None = None, *, documents=(),
                           source: str = "cli", idempotency_key: str = "", created_by: str = "",
                           tenant: str = "") -> tuple[str, bool]:
        """As :meth:`submit`, also saying whether this call created the batch (False: a repeat).
        ``tenant`` is the tenant its runs belong to ('' for the deployment-wide scope)."""
        if idempotency_key:
            known = self._batch_keys.get(idempotency_key)
            if known is None:
                found = await self._batch_for_key(idempotency_key)
                known = self._batch_keys.get(idempotency_key) or found  # a twin may have claimed it meanwhile
            if known:
                return known, False
        batch_id = new_id("batch")
        if idempotency_key:  # claimed before the first await, so a concurrent twin sees it
            self._batch_keys[idempotency_key] = batch_id
        entries = [str(Path(p).resolve()) for p in paths] + [DOCUMENT_ENTRY + d for d in documents]
        await self._save_workflow(workflow)
        await self.k.journal.upsert("batches", {
            "id": batch_id, "workflow": workflow.name, "workflow_hash": workflow.hash, "status": "ingesting",
            "created": now(), "finished": None, "inputs": json.dumps(inputs or {}), "paths": json.dumps(entries),
            "total": max(len(entries), 1), "idempotency_key": idempotency_key or None, "source": source,
            "created_by": created_by or None, "tenant": tenant or "",
        })
        await self.k.emit("batch.created", batch_id, {"workflow": workflow.name, "documents": len(entries), "source": source})
        await self._ingest(batch_id, workflow, entries, inputs or {}, source, start=0)
        return batch_id, True

    async def _batch_for_key(self, key: str) -> str | None:
        async with self.k.db.execute("SELECT id FROM batches WHERE idempotency_key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _ingest(self, batch_id: str, workflow: Workflow, paths: list[str], inputs: dict, source: str, start: int) -> None:
        pending = []
        if not paths and start == 0:
            run = self._new_run(batch_id, 0, "inputs", workflow, None, inputs, source)
            pending.append(self.k.journal.upsert("runs", run.row()))
        async with self.k.db.execute("SELECT coalesce(tenant, '') FROM batches WHERE id = ?", (batch_id,)) as cursor:
            tenant = ((await cursor.fetchone()) or ("",))[0]  # files a batch ingests are its tenant's

        async def one(seq: int) -> RunState:
            try:
                entry = paths[seq]
                if entry.startswith(DOCUMENT_ENTRY):
                    document = await self.k.documents.get(entry[len(DOCUMENT_ENTRY):], text=False)
                else:
                    document = await self.k.documents.ingest(entry, tenant=tenant)
                return self._new_run(batch_id, seq, "document", workflow, document.id, inputs, source)
            except Exception as exc:  # noqa: BLE001 - a bad file fails its own run; the batch goes on
                if isinstance(exc, PaperchainError):
                    error = exc.message + (f" ({exc.hint})" if exc.hint else "")
                else:  # otherwise a batch that failed here would fail again at every resume
                    log.exception("could not store %s", entry)
                    error = f"the file could not be stored: {_reason(exc)}"
                run = self._new_run(batch_id, seq, "document", workflow, None, inputs, source)
                run.status, run.error, run.finished = "failed", self._hide_server_paths(error), now()
                return run

        window = asyncio.Semaphore(_INGEST_AT_ONCE)  # hashing and copying overlap, in input order

        async def windowed(seq: int) -> RunState:
            async with window:
                return await one(seq)

        for run in await asyncio.gather(*map(windowed, range(start, len(paths)))):
            pending.append(self.k.journal.upsert("runs", run.row()))
        pending.append(self.k.journal.execute("UPDATE batches SET status = 'running' WHERE id = ?", (batch_id,)))
        await asyncio.gather(*pending)

    def _new_run(self, batch_id, seq, kind, workflow, document_id, inputs, source) -> RunState:
        return RunState(id=new_id("run"), batch_id=batch_id, seq=seq, kind=kind, workflow=workflow,
                        document_id=document_id, inputs=self._inputs(workflow, inputs), source=source)

    @staticmethod
    def _inputs(workflow: Workflow, given: dict) -> dict:
        defaults = {k: (v.get("default") if isinstance(v, dict) else v) for k, v in workflow.inputs.items()}
        return {**defaults, **given}

    async def run_batch(self, batch_id: str) -> str:
        """Run every unfinished run of a batch, then its batch steps; return the batch status.

        Nothing but a shutdown escapes: a run the engine itself fails on is failed with the error
        recorded while the others go on, and a batch that cannot go on at all is failed, so no
        batch is left ``running`` with nothing running it."""
        return await self._supervised(batch_id, self._run_batch(batch_id))

    async def _supervised(self, batch_id: str, work) -> str:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the batch's runs, then the batch is failed
            log.exception("batch %s could not go on", batch_id)
            return await self._fail_batch(batch_id, self._hide_server_paths(f"the batch could not go on: {_reason(exc)}"))

    async def _fail_batch(self, batch_id: str, reason: str) -> str:
        marks = ",".join("?" for _ in UNFINISHED_RUN)
        self.k.journal.execute(f"UPDATE steps SET status = 'failed', error = ?, finished = ? WHERE status IN "
                               f"('queued', 'running', 'pending') AND run_id IN (SELECT id FROM runs WHERE batch_id = ? "
                               f"AND status IN ({marks}))", (reason, now(), batch_id, *UNFINISHED_RUN))
        self.k.journal.execute(f"UPDATE runs SET status = 'failed', error = ?, finished = ? WHERE batch_id = ? "
                               f"AND status IN ({marks})", (reason, now(), batch_id, *UNFINISHED_RUN))
        await self.k.journal.execute("UPDATE batches SET status = 'failed', finished = ? WHERE id = ?", (now(), batch_id))
        await self.k.emit("batch.finished", batch_id, {"status": "failed", "error": reason}, durable=True)
        return "failed"

    async def _run_batch(self, batch_id: str) -> str:
        workflow = await self._batch_workflow(batch_id)
        runs = await self._load_runs(batch_id, workflow, kinds=("document", "inputs"))
        limit = self._run_limits.setdefault(
            workflow.name, asyncio.Semaphore(min(workflow.concurrency or 10**9, self.k.config.kernel.run_concurrency))
        )

        async def guarded(run: RunState):
            try:
                async with limit:
                    await self._execute_run(run)
            except asyncio.CancelledError:
                if run.id not in self._cancelled:
                    raise  # a shutdown: the run stays unfinished and is resumed on the next start
                await self._mark_cancelled(run)
            except Exception as exc:  # noqa: BLE001 - an engine failure ends this run only
                await self._fail_run(run, exc)
            finally:
                self._run_tasks.pop(run.id, None)

        tasks = []
        for run in runs:
            if run.status in UNFINISHED_RUN:
                self._run_tasks[run.id] = task = asyncio.create_task(guarded(run))
                tasks.append(task)
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if workflow.batch_steps:
            await self._run_batch_steps(batch_id, workflow)
        async with self.k.db.execute(
            "SELECT count(*) FROM runs WHERE batch_id = ? AND status != 'succeeded'", (batch_id,)
        ) as cursor:
            failed = (await cursor.fetchone())[0]
        status = "failed" if failed else "succeeded"
        await self.k.journal.execute("UPDATE batches SET status = ?, finished = ? WHERE id = ?", (status, now(), batch_id))
        await self.k.emit("batch.finished", batch_id, {"status": status, "workflow": workflow.name}, durable=True)
        return status

    async def cancel_run(self, run_id: str) -> str:
        """Stop a queued or running run; its running steps are interrupted. Returns the run's status."""
        async with self.k.db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"there is no run {run_id}.", hint="GET /api/v1/runs lists them")
        if row[0] not in UNFINISHED_RUN:
            raise ConflictError(f"the run {run_id} has already {row[0]}.", hint="only queued or running runs can be cancelled")
        task = self._run_tasks.get(run_id)
        self._cancelled.add(run_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:  # recorded but not running in this process (e.g. left by a stopped server)
            await self.k.journal.execute("UPDATE runs SET status = 'cancelled', finished = ?, error = ? WHERE id = ?",
                                         (now(), "cancelled by a user", run_id))
            await self.k.emit("run.cancelled", run_id, {}, durable=True)
        return "cancelled"

    async def _mark_cancelled(self, run: RunState) -> None:
        run.status, run.finished, run.error = "cancelled", now(), "cancelled by a user"
        for state in run.steps.values():
            if state.status == "running":
                state.status, state.finished, state.error = "cancelled", now(), "cancelled by a user"
                self._save_step(run, state)
        await self.k.journal.upsert("runs", run.row())
        await self.k.emit("run.cancelled", run.id, self._run_data(run), durable=True)

    async def _fail_run(self, run: RunState, exc: Exception) -> None:
        """Record a run the engine itself failed on (not one of its steps) as failed, with the error."""
        log.error("run %s failed in the engine", run.id, exc_info=exc)
        reason = self._hide_server_paths(f"the engine failed on this run: {_reason(exc)}")
        run.status, run.finished, run.error = "failed", now(), reason
        try:
            for state in run.steps.values():
                if state.status not in FINAL:
                    state.status, state.finished, state.error = "failed", now(), reason
                    self._save_step(run, state)
            await self.k.journal.upsert("runs", run.row())
            await self.k.emit("run.failed", run.id, self._run_data(run), durable=True)
        except Exception:  # noqa: BLE001 - the batch's own supervision records what this could not
            log.exception("could not record the failure of run %s", run.id)
            raise

    async def retry_run(self, run_id: str) -> str:
        """Make a failed or cancelled run runnable again from its failed steps (finished steps keep
        their outputs); return its batch id, which the caller runs."""
        async with self.k.db.execute("SELECT batch_id, status, kind, document_id FROM runs WHERE id = ?", (run_id,)) as c:
            row = await c.fetchone()
        if row is None:
            raise NotFoundError(f"there is no run {run_id}.", hint="GET /api/v1/runs lists them")
        batch_id, status, kind, document_id = row
        if status not in ("failed", "cancelled"):
            raise ConflictError(f"the run {run_id} is {status}; only failed or cancelled runs can be retried.")
        if kind == "document" and document_id is None:
            raise ConflictError(f"the run {run_id} failed before its file was stored, so there is nothing to retry.",
                                hint="upload the file again and start a new run")
        marks = ",".join("?" for _ in RETRYABLE_STEP)
        self.k.journal.execute(f"UPDATE steps SET status = 'queued', error = NULL, error_detail = NULL, finished = NULL, "
                               f"continued = 0 WHERE run_id = ? AND status IN ({marks})", (run_id, *RETRYABLE_STEP))
        self.k.journal.execute("UPDATE runs SET status = 'queued', error = NULL, finished = NULL WHERE id = ?", (run_id,))
        await self.k.journal.execute("UPDATE batches SET status = 'running', finished = NULL WHERE id = ?", (batch_id,))
        self._cancelled.discard(run_id)
        await self.k.emit("run.retried", run_id, {"batch": batch_id}, durable=True)
        return batch_id

    async def _run_batch_steps(self, batch_id: str, workflow: Workflow) -> None:
        existing = await self._load_runs(batch_id, workflow, kinds=("batch",))
        run = existing[0] if existing else None
        if run is None:
            run = self._new_run(batch_id, -1, "batch", workflow, None, {}, "batch")
            await self.k.journal.upsert("runs", run.row())
        if run.status in UNFINISHED_RUN:
            run.batch = await self.load_batch(batch_id, workflow.name)
            await self._execute_run(run)

    async def resume(self) -> list[str]:
        """Finish every batch a crash or stop left unfinished; return their ids."""
        async with self.k.db.execute(
            "SELECT id FROM batches WHERE status IN ('ingesting', 'running') ORDER BY created"
        ) as cursor:
            batches = [row[0] for row in await cursor.fetchall()]
        for batch_id in batches:
            await self.resume_batch(batch_id)
        return batches

    async def resume_batch(self, batch_id: str) -> str:
        """Ingest what a stop left un-ingested, then run what is unfinished; return the batch status."""
        return await self._supervised(batch_id, self._resume_batch(batch_id))

    async def _resume_batch(self, batch_id: str) -> str:
        async with self.k.db.execute("SELECT paths, inputs, source FROM batches WHERE id = ?", (batch_id,)) as cursor:
            paths, inputs, source = await cursor.fetchone()
        workflow = await self._batch_workflow(batch_id)
        async with self.k.db.execute("SELECT count(*), max(seq) FROM runs WHERE batch_id = ? AND kind != 'batch'", (batch_id,)) as c:
            count, last = await c.fetchone()
        paths = json.loads(paths)
        if count == 0 or (last is not None and last + 1 < len(paths)):
            await self._ingest(batch_id, workflow, paths, json.loads(inputs), source or "resume",
                               start=0 if count == 0 else last + 1)
        await self.k.emit("batch.resumed", batch_id, {"workflow": workflow.name})
        return await self._run_batch(batch_id)

    # -- loading state -----------------------------------------------------------------------

    async def _save_workflow(self, workflow: Workflow, created_by: str = "") -> None:
        self._workflows[workflow.hash] = workflow
        await self.k.journal.execute(
            "INSERT OR IGNORE INTO workflow_versions (hash, name, definition, created, created_by) VALUES (?, ?, ?, ?, ?)",
            (workflow.hash, workflow.name, json.dumps(workflow.definition), now(), created_by or None),
        )

    async def _workflow(self, digest: str) -> Workflow:
        workflow = self._workflows.get(digest)
        if workflow is None:
            async with self.k.db.execute("SELECT definition FROM workflow_versions WHERE hash = ?", (digest,)) as c:
                row = await c.fetchone()
            workflow = build_workflow(json.loads(row[0]), origin=f"workflow version {digest[:12]}", registry=self.k.registry)
            self._workflows[digest] = workflow
        return workflow

    async def _batch_workflow(self, batch_id: str) -> Workflow:
        async with self.k.db.execute("SELECT workflow_hash FROM batches WHERE id = ?", (batch_id,)) as c:
            row = await c.fetchone()
        if row is None:
            raise ConfigError(f"There is no batch {batch_id}.")
        return await self._workflow(row[0])

    async def _load_runs(self, batch_id: str, workflow: Workflow, kinds: tuple[str, ...]) -> list[RunState]:
        marks = ",".join("?" for _ in kinds)
        async with self.k.db.execute(
            f"SELECT id, seq, kind, document_id, inputs, status, created, started, finished, error, source "
            f"FROM runs WHERE batch_id = ? AND kind IN ({marks}) ORDER BY seq", (batch_id, *kinds),
        ) as cursor:
            rows = await cursor.fetchall()
        runs = [
            RunState(id=r[0], batch_id=batch_id, seq=r[1], kind=r[2], workflow=workflow, document_id=r[3],
                     inputs=json.loads(r[4] or "{}"), status=r[5], created=r[6], started=r[7], finished=r[8],
                     error=r[9], source=r[10] or "")
            for r in rows
        ]
        unfinished = {r.id: r for r in runs if r.status in UNFINISHED_RUN}
        if unfinished:
            marks = ",".join("?" for _ in unfinished)
            async with self.k.db.execute(
                f"SELECT run_id, step_id, uses, status, attempts, outputs, error, error_detail, started, finished, continued "
                f"FROM steps WHERE run_id IN ({marks})", tuple(unfinished),
            ) as cursor:
                async for row in cursor:
                    unfinished[row[0]].steps[row[1]] = StepState(
                        id=row[1], uses=row[2], status=row[3], attempts=row[4], outputs=json.loads(row[5] or "{}"),
                        outputs_json=row[5] or "{}",
                        error=row[6], error_detail=row[7], started=row[8], finished=row[9], continued=bool(row[10]),
                    )
        return runs

    async def load_batch(self, batch_id: str, workflow_name: str) -> Batch:
        """The batch as batch-scoped components see it: each run with its document, outputs, artifacts.

        So that a batch of any size fits in memory, documents come without their text and output
        values over 64 KiB are replaced by a note of their size.
        """
        items = []
        async with self.k.db.execute(
            "SELECT id, status, document_id FROM runs WHERE batch_id = ? AND kind != 'batch' ORDER BY seq", (batch_id,)
        ) as cursor:
            runs = await cursor.fetchall()
        for run_id, status, document_id in runs:
            outputs = {}
            async with self.k.db.execute("SELECT step_id, outputs FROM steps WHERE run_id = ?", (run_id,)) as c:
                async for step_id, data in c:
                    outputs[step_id] = _elide_large(json.loads(data or "{}"))
            artifacts = []
            async with self.k.db.execute(
                "SELECT name, media_type, sha256, size FROM artifacts WHERE run_id = ? ORDER BY step_id", (run_id,)
            ) as c:
                async for name, media_type, sha, size in c:
                    artifacts.append(Artifact(name=name, media_type=media_type, path=str(self.k.blobs.path(sha)), sha256=sha, size=size))
            document = await self.k.documents.get(document_id, text=False) if document_id else None
            items.append(BatchItem(run_id=run_id, status=status, document=document, outputs=outputs, artifacts=artifacts))
        return Batch(id=batch_id, workflow=workflow_name, items=items)

    # -- runs -----------------------------------------------------------------------------------

    async def _execute_run(self, run: RunState) -> None:
        steps = run.workflow.batch_steps if run.kind == "batch" else run.workflow.steps
        for step in steps:
            run.steps.setdefault(step.id, StepState(id=step.id, uses=step.uses))
        resumed = run.status == "running"
        run.status, run.started = "running", run.started or now()
        self.k.journal.upsert("runs", run.row())
        if run.document_id:
            run.document = await self.k.documents.get(run.document_id)
        await self.k.emit("run.resumed" if resumed else "run.started", run.id, self._run_data(run))

        pending = [s for s in steps if run.steps[s.id].status not in FINAL]
        running: dict[asyncio.Task, Step] = {}
        try:
            while pending or running:
                for step in [s for s in pending if all(run.steps[n].status in FINAL for n in s.needs)]:
                    pending.remove(step)
                    running[asyncio.create_task(self._supervised_step(run, step))] = step
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.pop(task)
                    task.result()
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        failed = [s for s in steps if run.steps[s.id].status == "failed" and not run.steps[s.id].continued]
        run.status = "failed" if failed else "succeeded"
        if failed:
            first = run.steps[failed[0].id]
            run.error = f"step {failed[0].id!r} failed: {first.error}"
        run.finished = now()
        scratch = self.k.work_dir(run.id)
        if scratch.exists():
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        await self.k.journal.upsert("runs", run.row())
        await self.k.emit(f"run.{run.status}", run.id, self._run_data(run), durable=True)
        for listener in self.listeners:
            listener(run)
        # What a finished run produced is in the database now; holding it would make a batch's
        # memory grow with its size (1,000 documents of 1 MB each would keep their text).
        run.document = run.batch = None
        for state in run.steps.values():
            state.outputs, state.outputs_json = {}, "{}"

    def _run_data(self, run: RunState) -> dict:
        data = {"workflow": run.workflow.name, "batch": run.batch_id, "status": run.status, "document": run.document_id}
        if run.error:
            data["error"] = run.error
        return data

    # -- steps ----------------------------------------------------------------------------------

    async def _supervised_step(self, run: RunState, step: Step) -> None:
        try:
            await self._execute_step(run, step)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an engine failure on one step fails that step
            log.exception("step %s of run %s failed in the engine", step.id, run.id)
            state = run.steps[step.id]
            await self._finish_failed(run, step, state, f"the engine failed on this step: {_reason(exc)}",
                                      "".join(traceback.format_exception(exc)))

    async def _execute_step(self, run: RunState, step: Step) -> None:
        state = run.steps[step.id]
        context = self._context(run, step)
        where = f"step {step.id!r} of workflow {run.workflow.name!r}"
        try:
            should_run = (
                expressions.condition(step.if_, context, where=f"{where}, if") if step.if_
                else all(run.steps[n].ok() for n in step.needs)
            )
        except ConfigError as exc:
            return await self._finish_failed(run, step, state, exc.message, None)
        if not should_run:
            state.status, state.finished = "skipped", now()
            self._save_step(run, state)
            await self.k.emit("step.skipped", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id})
            return
        try:
            entry = self.k.registry.get(step.uses)
            rendered = expressions.render(step.with_, context, where=f"{where}, with")
            options = rendered if entry.kind == "model" else self.k.registry.settings_for(entry, rendered, where=f"{where}, with")
            self._check_scope(entry, run, step)
        except PaperchainError as exc:
            return await self._finish_failed(run, step, state, str(exc), None)

        key = f"{run.id}:{step.id}"
        for number in range(step.retry.attempts):
            last = number == step.retry.attempts - 1
            async with self.slots.acquire(step.priority):
                state.attempts += 1
                state.status, state.started, state.error = "running", now(), None
                intent = self._save_step(run, state, key)
                self._save_attempt(run, state, "running")
                if entry.spec.side_effects:
                    await intent  # the intent is durable before the world is touched
                await self.k.emit("step.started", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "attempt": state.attempts})
                where = (run.id, step.id, state.attempts)
                token = current_step.set(where)
                self.logs.write(where, "info", f"attempt {state.attempts} of {step.uses} started")
                try:
                    result = await self._call(entry, run, step, options, state.attempts, key)
                    state.outputs, state.outputs_json = await self._absorb(entry, run, step, result)
                except asyncio.CancelledError:
                    self.logs.write(where, "warning", "cancelled")
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
                    message, detail, retryable = self._describe(exc, step)
                    state.error, state.error_detail = message, detail
                    self.logs.write(where, "error", f"failed: {message}" + ("" if retryable else " (not retryable)"))
                    self._save_attempt(run, state, "failed")
                    if last or not retryable:
                        return await self._finish_failed(run, step, state, message, detail)
                else:
                    self.logs.write(where, "info", "succeeded")
                    state.status, state.finished = "succeeded", now()
                    self._save_attempt(run, state, "succeeded")
                    saved = self._save_step(run, state, key)
                    if entry.spec.side_effects:
                        # Committed (one shared group commit) before anything that needs this step
                        # starts, and before its run is reported finished: after a kill -9, a step
                        # recorded as done is never repeated, and one whose effect landed but whose
                        # success was not yet committed is repeated with the same idempotency key.
                        await saved
                    await self.k.emit("step.succeeded", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "attempt": state.attempts})
                    return
                finally:
                    current_step.reset(token)
                    self.logs.done(where)
            delay = step.retry.delay(state.attempts, self._random)
            await self.k.emit("step.retrying", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "error": state.error, "delay": delay})
            await asyncio.sleep(delay)

    async def _finish_failed(self, run, step, state, message, detail) -> None:
        message, detail = self._hide_server_paths(message), self._hide_server_paths(detail)
        state.status, state.error, state.error_detail, state.finished = "failed", message, detail, now()
        state.continued = step.continue_on_error
        self._save_step(run, state)
        await self.k.emit("step.failed", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "error": message})

    def _check_scope(self, entry, run: RunState, step: Step) -> None:
        if entry.kind in ("exporter", "analyzer") and getattr(entry.spec, "scope", "document") == "document" and run.document is None:
            raise ConfigError(
                f"step {step.id!r} uses the {entry.kind} {step.uses!r}, which needs a document, but this run has none.",
                hint="start the workflow with files (paperchain run WORKFLOW FILE…), or move the step",
            )

    def _describe(self, exc: BaseException, step: Step) -> tuple[str, str | None, bool]:
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return f"timed out after {step.timeout:g} s", None, True
        if isinstance(exc, PaperchainError):
            return str(exc), None, exc.retryable
        name = type(exc).__name__
        if name == "ProcessExpired":  # pebble: the worker process died (crash, OOM kill)
            return f"the worker process died: {exc}", None, True
        return f"{name}: {exc}", "".join(traceback.format_exception(exc)), True

    def _context(self, run: RunState, step: Step) -> dict[str, Any]:
        needs = [run.steps[n] for n in step.needs]
        doc = run.document
        env = {**self._env, **run.workflow.env} if run.workflow.env else self._env
        return {
            "inputs": run.inputs,
            "steps": {s.id: {"outputs": s.outputs, "status": s.status, "outcome": s.status,
                             "conclusion": "succeeded" if s.ok() else s.status} for s in run.steps.values() if s.status in FINAL},
            "document": None if doc is None else {
                "id": doc.id, "name": doc.name, "stem": doc.stem, "media_type": doc.media_type, "size": doc.size,
                "text": doc.text, "metadata": doc.metadata, "tags": list(doc.tags), "findings": doc.findings,
            },
            "env": env,
            "run": {"id": run.id, "batch": run.batch_id, "workflow": run.workflow.name},
            "batch": None if run.batch is None else {"id": run.batch.id, "size": len(run.batch.items)},
            "success": lambda: all(s.ok() for s in needs),
            "failure": lambda: any(s.status == "failed" and not s.continued for s in needs),
            "always": lambda: True,
            "cancelled": lambda: False,
        }

    # -- calling components ------------------------------------------------------------------------

    async def _call(self, entry, run: RunState, step: Step, options, attempt: int, key: str):
        spec = entry.spec
        kind = spec.kind
        if kind == "action":
            async with self.k.db.execute("SELECT coalesce(tenant, '') FROM batches WHERE id = ?", (run.batch_id,)) as cursor:
                tenant = ((await cursor.fetchone()) or ("",))[0]  # a side effect acts for the run's tenant
            ctx = RunContext(run_id=run.id, step_id=step.id, workflow=run.workflow.name, attempt=attempt,
                             idempotency_key=key, document=run.document, batch=run.batch, inputs=run.inputs,
                             work_dir=f"{self._work_base}/{run.id}/{step.id}", tenant=tenant)
            method, args = "run", (ctx, options)
        elif kind == "exporter" and getattr(spec, "scope", "document") == "batch":
            method, args = "export_batch", (run.batch, options)
        elif kind == "model":
            method, args = "predict", (options,)
        else:
            method, args = STEP_METHOD[kind], (run.document, options)
        if spec.cpu_bound:
            awaitable = self._in_pool(entry, method, args, step.timeout)
        else:
            component = self.k.registry.instance(spec.name)
            bound = getattr(component, method)
            awaitable = bound(*args) if inspect.iscoroutinefunction(bound) else asyncio.to_thread(bound, *args)
        return await asyncio.wait_for(awaitable, step.timeout) if step.timeout else await awaitable

    async def _in_pool(self, entry, method: str, args: tuple, timeout: float | None):
        from . import worker

        impl = entry.spec.impl
        ref = impl if isinstance(impl, str) else f"{impl.__module__}:{impl.__qualname__}"
        component = self.k.registry.instance(entry.spec.name)  # validates settings once, in-process
        future = self.pool().schedule(worker.call, args=(ref, component.settings, method, args), timeout=timeout)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # pebble stops the worker running it
            raise
        except BaseException as exc:
            if type(exc).__name__ == "TimeoutError" and timeout:
                raise asyncio.TimeoutError() from None
            raise

    def pool(self):
        if self._pool is None:
            import multiprocessing

            import pebble

            from . import worker

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["paperchain.engine.worker", "paperchain_sdk"])
            self._pool = pebble.ProcessPool(max_workers=self.k.config.workers, initializer=worker.init_worker, context=context)
        return self._pool

    async def close(self) -> None:
        logging.getLogger().removeHandler(self.logs)
        if self._pool is not None:
            self._pool.close()
            await asyncio.to_thread(self._pool.join, 10)
            self._pool = None

    # -- results ----------------------------------------------------------------------------------------

    async def _absorb(self, entry, run: RunState, step: Step, result) -> tuple[dict, str]:
        kind = entry.kind
        if kind == "exporter":
            if not isinstance(result, Artifact):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an exporter must return an Artifact")
            outputs = await self._store_artifact(run, step, result)
        elif kind == "analyzer":
            if not isinstance(result, Findings):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an analyzer must return Findings")
            outputs = dict(result.data)
            self.k.journal.upsert("findings", {
                "document_id": run.document.id, "analyzer": step.uses, "run_id": run.id, "step_id": step.id,
                "data": json.dumps(result.data), "summary": result.summary, "created": now(),
            })
            run.document = attrs.evolve(run.document, findings={**run.document.findings, step.uses: dict(result.data)})
        elif kind == "model":
            if not isinstance(result, Prediction):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; a model must return a Prediction")
            outputs = attrs.asdict(result)
        else:
            if result is None:
                result = {}
            if isinstance(result, Result):
                outputs = dict(result.outputs)
                stored = [await self._store_artifact(run, step, a) for a in result.artifacts]
                if stored:
                    outputs["artifacts"] = stored
                if result.document is not None:
                    self._apply_update(run, result.document)
            elif isinstance(result, dict):
                outputs = result
            else:
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an action returns a dict or a Result")
        outputs = self._hide_server_paths(outputs)
        try:
            encoded = json.dumps(outputs)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{step.uses} returned outputs that are not JSON-serialisable: {exc}") from None
        return outputs, encoded

    def _apply_update(self, run: RunState, update: DocumentUpdate) -> None:
        if run.document is None:
            raise InputError("the step asked to update the run's document, but this run has no document")
        doc = run.document
        run.document = attrs.evolve(
            doc,
            text=update.text if update.text is not None else doc.text,
            metadata={**doc.metadata, **update.metadata},
            tags=tuple(dict.fromkeys((*doc.tags, *update.tags))),
        )
        self.k.documents.update(run.document)

    async def _store_artifact(self, run: RunState, step: Step, artifact: Artifact) -> dict:
        blobs = self.k.blobs
        if artifact.data is not None:
            digest, size, path = await asyncio.to_thread(blobs.put_bytes, artifact.data)
        else:
            digest, size, path = await asyncio.to_thread(blobs.put_file, artifact.path, move=True)
        self.k.journal.upsert("artifacts", {
            "run_id": run.id, "step_id": step.id, "name": artifact.name, "sha256": digest,
            "media_type": artifact.media_type, "size": size, "document_id": run.document_id, "created": now(),
        })
        # By name and digest, never the blob's path on the server (outputs are shown through the API).
        return {"name": artifact.name, "media_type": artifact.media_type, "sha256": digest, "size": size,
                "download": f"/api/v1/runs/{run.id}/artifacts/{step.id}/{artifact.name}"}

    def _hide_server_paths(self, value):
        """Outputs and errors are shown to API users: paths inside the data directory become relative to it."""
        if isinstance(value, str):
            for prefix in self._data_prefixes:
                if prefix in value:
                    value = value.replace(prefix, "")
            return value
        if isinstance(value, dict):
            return {k: self._hide_server_paths(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._hide_server_paths(v) for v in value]
        return value

    # -- persistence helpers --------------------------------------------------------------------------

    def _save_step(self, run: RunState, state: StepState, key: str = "") -> asyncio.Future:
        return self.k.journal.upsert("steps", {
            "run_id": run.id, "step_id": state.id, "uses": state.uses, "status": state.status,
            "attempts": state.attempts, "outputs": state.outputs_json, "error": state.error,
            "error_detail": state.error_detail, "started": state.started, "finished": state.finished,
            "idempotency_key": key or f"{run.id}:{state.id}", "continued": int(state.continued),
        })

    def _save_attempt(self, run: RunState, state: StepState, status: str) -> asyncio.Future:
        return self.k.journal.upsert("attempts", {
            "run_id": run.id, "step_id": state.id, "attempt": state.attempts, "status": status,
            "started": state.started, "finished": None if status == "running" else now(), "error": state.error,
        })
