"""The engine's SQL: every read and write of batches, runs, steps and attempts, by column name.

Writes go through the journal (group-committed); reads use the kernel's connection with
``sqlite3.Row`` rows, so a column is always named, never taken by position.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from ..documents import now
from .state import RETRYABLE_STEP, UNFINISHED_RUN, RunState, StepState
from .workflow import Workflow, build_workflow

_OPEN_STEP = ("queued", "running", "pending")


def _marks(values) -> str:
    return ",".join("?" for _ in values)


class RunStore:
    def __init__(self, kernel):
        self.k = kernel
        self._workflows: dict[str, Workflow] = {}  # workflow versions by hash, built once

    # -- reading ------------------------------------------------------------------------------

    async def rows(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        async with self.k.db.execute(sql, params) as cursor:
            cursor.row_factory = sqlite3.Row
            return await cursor.fetchall()

    async def row(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        async with self.k.db.execute(sql, params) as cursor:
            cursor.row_factory = sqlite3.Row
            return await cursor.fetchone()

    async def one(self, sql: str, params: tuple = ()) -> sqlite3.Row:
        """The one row an aggregate query always gives."""
        row = await self.row(sql, params)
        if row is None:
            raise LookupError(f"no row from {sql!r}")
        return row

    async def stream(self, sql: str, params: tuple = ()) -> AsyncIterator[sqlite3.Row]:
        async with self.k.db.execute(sql, params) as cursor:
            cursor.row_factory = sqlite3.Row
            async for row in cursor:
                yield row

    async def batch_for_key(self, key: str) -> str | None:
        row = await self.row("SELECT id FROM batches WHERE idempotency_key = ?", (key,))
        return row["id"] if row else None

    async def batch(self, batch_id: str) -> sqlite3.Row | None:
        return await self.row("SELECT id, workflow_hash, paths, inputs, source, coalesce(tenant, '') AS tenant "
                              "FROM batches WHERE id = ?", (batch_id,))

    async def batch_tenant(self, batch_id: str) -> str:
        row = await self.row("SELECT coalesce(tenant, '') AS tenant FROM batches WHERE id = ?", (batch_id,))
        return row["tenant"] if row else ""

    async def unfinished_batches(self) -> list[str]:
        rows = await self.rows("SELECT id FROM batches WHERE status IN ('ingesting', 'running') ORDER BY created")
        return [row["id"] for row in rows]

    async def ingested(self, batch_id: str) -> tuple[int, int | None]:
        """How many of a batch's document or input runs exist, and the highest ``seq`` among them."""
        row = await self.one("SELECT count(*) AS count, max(seq) AS last FROM runs WHERE batch_id = ? AND kind != 'batch'",
                             (batch_id,))
        return row["count"], row["last"]

    async def unsucceeded_runs(self, batch_id: str) -> int:
        row = await self.one("SELECT count(*) AS count FROM runs WHERE batch_id = ? AND status != 'succeeded'", (batch_id,))
        return row["count"]

    async def run_summary(self, run_id: str) -> sqlite3.Row | None:
        return await self.row("SELECT batch_id, status, kind, document_id FROM runs WHERE id = ?", (run_id,))

    async def load_runs(self, batch_id: str, workflow: Workflow, kinds: tuple[str, ...], tenant: str) -> list[RunState]:
        """A batch's runs of the given kinds, in order; unfinished ones with their steps as recorded."""
        rows = await self.rows(
            f"SELECT id, seq, kind, document_id, inputs, status, created, started, finished, error, source "
            f"FROM runs WHERE batch_id = ? AND kind IN ({_marks(kinds)}) ORDER BY seq", (batch_id, *kinds),
        )
        runs = [
            RunState(id=r["id"], batch_id=batch_id, seq=r["seq"], kind=r["kind"], workflow=workflow,
                     document_id=r["document_id"], inputs=json.loads(r["inputs"] or "{}"), status=r["status"],
                     created=r["created"], started=r["started"], finished=r["finished"], error=r["error"],
                     source=r["source"] or "", tenant=tenant)
            for r in rows
        ]
        unfinished = {r.id: r for r in runs if r.status in UNFINISHED_RUN}
        if unfinished:
            async for row in self.stream(
                f"SELECT run_id, step_id, uses, status, attempts, outputs, error, error_detail, started, finished, "
                f"continued, cached FROM steps WHERE run_id IN ({_marks(unfinished)})", tuple(unfinished),
            ):
                outputs = row["outputs"] or "{}"
                unfinished[row["run_id"]].steps[row["step_id"]] = StepState(
                    id=row["step_id"], uses=row["uses"], status=row["status"], attempts=row["attempts"],
                    outputs=json.loads(outputs), outputs_json=outputs, error=row["error"],
                    error_detail=row["error_detail"], started=row["started"], finished=row["finished"],
                    continued=bool(row["continued"]), cached=bool(row["cached"]),
                )
        return runs

    # -- workflow versions --------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow, created_by: str = "") -> None:
        self._workflows[workflow.hash] = workflow
        await self.k.journal.execute(
            "INSERT OR IGNORE INTO workflow_versions (hash, name, definition, created, created_by) VALUES (?, ?, ?, ?, ?)",
            (workflow.hash, workflow.name, json.dumps(workflow.definition), now(), created_by or None),
        )

    async def workflow(self, digest: str) -> Workflow:
        workflow = self._workflows.get(digest)
        if workflow is None:
            row = await self.one("SELECT definition FROM workflow_versions WHERE hash = ?", (digest,))
            workflow = build_workflow(json.loads(row["definition"]), origin=f"workflow version {digest[:12]}",
                                      registry=self.k.registry)
            self._workflows[digest] = workflow
        return workflow

    # -- writing ------------------------------------------------------------------------------

    def save_batch(self, row: dict[str, Any]) -> asyncio.Future:
        return self.k.journal.upsert("batches", row)

    def save_run(self, run: RunState) -> asyncio.Future:
        return self.k.journal.upsert("runs", run.row())

    def save_step(self, run: RunState, state: StepState, key: str = "") -> asyncio.Future:
        return self.k.journal.upsert("steps", {
            "run_id": run.id, "step_id": state.id, "uses": state.uses, "status": state.status,
            "attempts": state.attempts, "outputs": state.outputs_json, "error": state.error,
            "error_detail": state.error_detail, "started": state.started, "finished": state.finished,
            "idempotency_key": key or f"{run.id}:{state.id}", "continued": int(state.continued),
            "cached": int(state.cached),
        })

    def save_attempt(self, run: RunState, state: StepState, status: str) -> asyncio.Future:
        return self.k.journal.upsert("attempts", {
            "run_id": run.id, "step_id": state.id, "attempt": state.attempts, "status": status,
            "started": state.started, "finished": None if status == "running" else now(), "error": state.error,
        })

    def batch_running(self, batch_id: str) -> asyncio.Future:
        return self.k.journal.execute("UPDATE batches SET status = 'running' WHERE id = ?", (batch_id,))

    def batch_finished(self, batch_id: str, status: str) -> asyncio.Future:
        return self.k.journal.execute("UPDATE batches SET status = ?, finished = ? WHERE id = ?", (status, now(), batch_id))

    def fail_batch(self, batch_id: str, reason: str) -> asyncio.Future:
        """Fail every open step and unfinished run of a batch, then the batch."""
        self.k.journal.execute(f"UPDATE steps SET status = 'failed', error = ?, finished = ? WHERE status IN "
                               f"({_marks(_OPEN_STEP)}) AND run_id IN (SELECT id FROM runs WHERE batch_id = ? "
                               f"AND status IN ({_marks(UNFINISHED_RUN)}))",
                               (reason, now(), *_OPEN_STEP, batch_id, *UNFINISHED_RUN))
        self.k.journal.execute(f"UPDATE runs SET status = 'failed', error = ?, finished = ? WHERE batch_id = ? "
                               f"AND status IN ({_marks(UNFINISHED_RUN)})", (reason, now(), batch_id, *UNFINISHED_RUN))
        return self.batch_finished(batch_id, "failed")

    def cancel_recorded_run(self, run_id: str) -> asyncio.Future:
        return self.k.journal.execute("UPDATE runs SET status = 'cancelled', finished = ?, error = ? WHERE id = ?",
                                      (now(), "cancelled by a user", run_id))

    def reopen_run(self, run_id: str, batch_id: str) -> asyncio.Future:
        """Queue a failed or cancelled run's unfinished steps, the run and its batch again."""
        self.k.journal.execute(f"UPDATE steps SET status = 'queued', error = NULL, error_detail = NULL, finished = NULL, "
                               f"continued = 0, cached = 0 WHERE run_id = ? AND status IN ({_marks(RETRYABLE_STEP)})",
                               (run_id, *RETRYABLE_STEP))
        self.k.journal.execute("UPDATE runs SET status = 'queued', error = NULL, finished = NULL WHERE id = ?", (run_id,))
        return self.k.journal.execute("UPDATE batches SET status = 'running', finished = NULL WHERE id = ?", (batch_id,))
