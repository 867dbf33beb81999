"""The engine's SQL: every read and write of batches, runs, steps and attempts, by column name.

Statements are SQLAlchemy Core over store/tables.py, so they run on SQLite and PostgreSQL alike.
Writes go through the journal (group-committed), its statements built once here with bind
parameters (the journal groups them by identity into one executemany per flush); reads go through
``kernel.sql`` and take columns by name.

Idempotency keys have unique indexes (a batch's is the caller's, a run's ``<batch>:<seq>``), and
the journal's whole-row upsert would meet another row's key differently on each database (SQLite's
REPLACE deletes that row, PostgreSQL refuses the whole flush). So a new batch or run is *claimed*:
inserted only if no row holds its id or key, and the row that holds it is the one the engine goes
on with. Only claimed rows are upserted afterwards.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..documents import now
from ..store.tables import artifacts, batches, runs, step_cache, steps, workflow_versions
from .state import RETRYABLE_STEP, UNFINISHED_RUN, RunState, StepState
from .workflow import Workflow, build_workflow

_OPEN_STEP = ("queued", "running", "pending")
# The journal's statements below name their bind parameters apart from the columns of the table they
# change (``of_batch``, ``of_run``): SQLAlchemy would take a parameter named as a column for a value to set.


def _among(column, values: tuple[str, ...]):
    """``column IN (...)`` of constants, bound one by one (an expanding IN cannot be executemany'd)."""
    return column.in_([sa.literal(value, sa.Text()) for value in values])


def _claim_run(insert) -> Any:
    # The NOT EXISTS guard, not only ON CONFLICT: on SQLite the run counts' BEFORE INSERT trigger
    # (tables._SQLITE_RUN_COUNTS) would uncount the existing row before a conflict is noticed; a
    # SELECT that yields no row fires no trigger. ON CONFLICT covers PostgreSQL's concurrent writers.
    columns = [column.name for column in runs.columns]
    free = ~sa.exists().where(sa.or_(runs.c.id == sa.bindparam("id"),
                                     runs.c.idempotency_key == sa.bindparam("idempotency_key")))
    values = sa.select(*(sa.bindparam(name, type_=runs.c[name].type) for name in columns)).where(free)
    return insert(runs).from_select(columns, values).on_conflict_do_nothing()


_CLAIM_RUN = {"sqlite": _claim_run(sqlite.insert), "postgresql": _claim_run(postgresql.insert)}
_SAVE_VERSION = {"sqlite": sqlite.insert(workflow_versions).on_conflict_do_nothing(),
                 "postgresql": postgresql.insert(workflow_versions).on_conflict_do_nothing()}

_BATCH_RUNNING = (sa.update(batches).where(batches.c.id == sa.bindparam("of_batch"))
                  .values(status="running"))
_BATCH_FINISHED = (sa.update(batches).where(batches.c.id == sa.bindparam("of_batch"))
                   .values(status=sa.bindparam("new_status"), finished=sa.bindparam("at")))
_BATCH_REOPENED = (sa.update(batches).where(batches.c.id == sa.bindparam("of_batch"))
                   .values(status="running", finished=None))
_FAIL_OPEN_STEPS = (
    sa.update(steps)
    .where(_among(steps.c.status, _OPEN_STEP),
           steps.c.run_id.in_(sa.select(runs.c.id).where(runs.c.batch_id == sa.bindparam("of_batch"),
                                                         _among(runs.c.status, UNFINISHED_RUN))))
    .values(status="failed", error=sa.bindparam("why"), finished=sa.bindparam("at")))
_FAIL_OPEN_RUNS = (
    sa.update(runs).where(runs.c.batch_id == sa.bindparam("of_batch"), _among(runs.c.status, UNFINISHED_RUN))
    .values(status="failed", error=sa.bindparam("why"), finished=sa.bindparam("at")))
_CANCEL_RUN = (sa.update(runs).where(runs.c.id == sa.bindparam("of_run"))
               .values(status="cancelled", finished=sa.bindparam("at"), error=sa.bindparam("why")))
_REQUEUE_STEPS = (
    sa.update(steps).where(steps.c.run_id == sa.bindparam("of_run"), _among(steps.c.status, RETRYABLE_STEP))
    .values(status="queued", error=None, error_detail=None, finished=None, continued=0, cached=0))
_REQUEUE_RUN = (sa.update(runs).where(runs.c.id == sa.bindparam("of_run"))
                .values(status="queued", error=None, finished=None))

_BATCH = sa.select(batches.c.id, batches.c.workflow_hash, batches.c.paths, batches.c.inputs, batches.c.source,
                   sa.func.coalesce(batches.c.tenant, "").label("tenant")).where(batches.c.id == sa.bindparam("id"))
_RUN_COLUMNS = (runs.c.id, runs.c.seq, runs.c.kind, runs.c.document_id, runs.c.inputs, runs.c.status, runs.c.created,
                runs.c.started, runs.c.finished, runs.c.error, runs.c.source)
_STEP_COLUMNS = (steps.c.run_id, steps.c.step_id, steps.c.uses, steps.c.status, steps.c.attempts, steps.c.outputs,
                 steps.c.error, steps.c.error_detail, steps.c.started, steps.c.finished, steps.c.continued,
                 steps.c.cached)
_CACHED = (sa.select(step_cache.c.outputs, step_cache.c.artifacts, step_cache.c.document_update,
                     step_cache.c.findings, step_cache.c.source_run, step_cache.c.source_step)
           .where(step_cache.c.tenant == sa.bindparam("tenant"), step_cache.c.key == sa.bindparam("key"),
                  step_cache.c.created >= sa.bindparam("oldest", type_=sa.Float())))


class RunStore:
    def __init__(self, kernel):
        self.k = kernel
        self._workflows: dict[str, Workflow] = {}  # workflow versions by hash, built once

    # -- reading ------------------------------------------------------------------------------

    async def batch_for_key(self, key: str) -> str | None:
        return await self.k.sql.scalar(sa.select(batches.c.id).where(batches.c.idempotency_key == key))

    async def batch(self, batch_id: str) -> sa.Row | None:
        """id, workflow_hash, paths, inputs, source and tenant ('' when none) of a batch."""
        return await self.k.sql.first(_BATCH, {"id": batch_id})

    async def unfinished_batches(self) -> list[str]:
        rows = await self.k.sql.read(sa.select(batches.c.id).where(batches.c.status.in_(("ingesting", "running")))
                                     .order_by(batches.c.created, batches.c.id))
        return [row.id for row in rows]

    async def ingested(self, batch_id: str) -> tuple[int, int | None]:
        """How many of a batch's document or input runs exist, and the highest ``seq`` among them."""
        row = await self.k.sql.first(sa.select(sa.func.count().label("made"), sa.func.max(runs.c.seq).label("last_seq"))
                                     .where(runs.c.batch_id == batch_id, runs.c.kind != "batch"))
        assert row is not None  # an aggregate always has its row
        return row.made, row.last_seq  # (not "count": a Row is a tuple, whose count() it would shadow)

    async def unsucceeded_runs(self, batch_id: str) -> int:
        return await self.k.sql.scalar(sa.select(sa.func.count())
                                       .where(runs.c.batch_id == batch_id, runs.c.status != "succeeded"))

    async def run_summary(self, run_id: str) -> sa.Row | None:
        """batch_id, status, kind and document_id of a run."""
        return await self.k.sql.first(sa.select(runs.c.batch_id, runs.c.status, runs.c.kind, runs.c.document_id)
                                      .where(runs.c.id == run_id))

    async def load_runs(self, batch_id: str, workflow: Workflow, kinds: tuple[str, ...], tenant: str) -> list[RunState]:
        """A batch's runs of the given kinds, in order; unfinished ones with their steps as recorded."""
        of_batch = (runs.c.batch_id == batch_id, runs.c.kind.in_(kinds))
        rows = await self.k.sql.read(sa.select(*_RUN_COLUMNS).where(*of_batch).order_by(runs.c.seq, runs.c.id))
        loaded = [
            RunState(id=r.id, batch_id=batch_id, seq=r.seq, kind=r.kind, workflow=workflow,
                     document_id=r.document_id, inputs=json.loads(r.inputs or "{}"), status=r.status,
                     created=r.created, started=r.started, finished=r.finished, error=r.error,
                     source=r.source or "", tenant=tenant)
            for r in rows
        ]
        unfinished = {r.id: r for r in loaded if r.status in UNFINISHED_RUN}
        if unfinished:
            step_rows = await self.k.sql.read(
                sa.select(*_STEP_COLUMNS).join(runs, runs.c.id == steps.c.run_id)
                .where(*of_batch, runs.c.status.in_(UNFINISHED_RUN)))
            for row in step_rows:
                run = unfinished.get(row.run_id)
                if run is None:  # changed since the runs were read: its steps are not this load's
                    continue
                outputs = row.outputs or "{}"
                run.steps[row.step_id] = StepState(
                    id=row.step_id, uses=row.uses, status=row.status, attempts=row.attempts,
                    outputs=json.loads(outputs), outputs_json=outputs, error=row.error,
                    error_detail=row.error_detail, started=row.started, finished=row.finished,
                    continued=bool(row.continued), cached=bool(row.cached),
                )
        return loaded

    async def batch_items(self, batch_id: str) -> list[sa.Row]:
        """id, status and document_id of a batch's document or input runs, in order."""
        return await self.k.sql.read(sa.select(runs.c.id, runs.c.status, runs.c.document_id)
                                     .where(runs.c.batch_id == batch_id, runs.c.kind != "batch")
                                     .order_by(runs.c.seq, runs.c.id))

    async def step_outputs(self, run_id: str) -> list[sa.Row]:
        """step_id and outputs (JSON text) of a run's steps."""
        return await self.k.sql.read(sa.select(steps.c.step_id, steps.c.outputs).where(steps.c.run_id == run_id)
                                     .order_by(steps.c.step_id))

    async def run_artifacts(self, run_id: str) -> list[sa.Row]:
        """name, media_type, sha256 and size of a run's artifacts, by step."""
        return await self.k.sql.read(
            sa.select(artifacts.c.name, artifacts.c.media_type, artifacts.c.sha256, artifacts.c.size)
            .where(artifacts.c.run_id == run_id).order_by(artifacts.c.step_id, artifacts.c.name))

    async def cached(self, tenant: str, key: str, oldest: float) -> sa.Row | None:
        """A step-result cache entry of the tenant made at ``oldest`` (epoch seconds) or later."""
        return await self.k.sql.first(_CACHED, {"tenant": tenant, "key": key, "oldest": oldest})

    # -- workflow versions --------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow, created_by: str = "") -> None:
        self._workflows[workflow.hash] = workflow
        await self.k.journal.execute(_SAVE_VERSION[self.k.sql.dialect], {
            "hash": workflow.hash, "name": workflow.name, "definition": json.dumps(workflow.definition),
            "created": now(), "created_by": created_by or None})

    async def workflow(self, digest: str) -> Workflow:
        workflow = self._workflows.get(digest)
        if workflow is None:
            definition = await self.k.sql.scalar(sa.select(workflow_versions.c.definition)
                                                 .where(workflow_versions.c.hash == digest))
            if definition is None:
                raise LookupError(f"no workflow version {digest}")
            workflow = build_workflow(json.loads(definition), origin=f"workflow version {digest[:12]}",
                                      registry=self.k.registry)
            self._workflows[digest] = workflow
        return workflow

    # -- writing ------------------------------------------------------------------------------

    async def claim_batch(self, row: dict[str, Any]) -> str:
        """Record a new batch unless its idempotency key is taken; the id of the batch that holds
        the key (``row['id']`` when this one was recorded)."""
        result = await self.k.sql.write(self.k.sql.insert(batches).values(**row).on_conflict_do_nothing())
        if result.rowcount == 1:
            return row["id"]
        holder = await self.batch_for_key(row["idempotency_key"]) if row.get("idempotency_key") else None
        if holder is None:  # its id was taken, which a fresh id never is
            raise RuntimeError(f"the batch {row['id']} could not be recorded: its id is taken")
        return holder

    def add_run(self, run: RunState) -> asyncio.Future:
        """Record a new run unless a row holds its id or idempotency key (that row stays as it is)."""
        return self.k.journal.execute(_CLAIM_RUN[self.k.sql.dialect], run.row())

    def save_run(self, run: RunState) -> asyncio.Future:
        """The whole row of a run already recorded (``add_run``, or loaded)."""
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
        return self.k.journal.execute(_BATCH_RUNNING, {"of_batch": batch_id})

    def batch_finished(self, batch_id: str, status: str) -> asyncio.Future:
        return self.k.journal.execute(_BATCH_FINISHED, {"of_batch": batch_id, "new_status": status, "at": now()})

    def fail_batch(self, batch_id: str, reason: str) -> asyncio.Future:
        """Fail every open step and unfinished run of a batch, then the batch."""
        failed = {"of_batch": batch_id, "why": reason, "at": now()}
        self.k.journal.execute(_FAIL_OPEN_STEPS, failed)
        self.k.journal.execute(_FAIL_OPEN_RUNS, failed)
        return self.batch_finished(batch_id, "failed")

    def cancel_recorded_run(self, run_id: str) -> asyncio.Future:
        return self.k.journal.execute(_CANCEL_RUN, {"of_run": run_id, "at": now(), "why": "cancelled by a user"})

    def reopen_run(self, run_id: str, batch_id: str) -> asyncio.Future:
        """Queue a failed or cancelled run's unfinished steps, the run and its batch again."""
        self.k.journal.execute(_REQUEUE_STEPS, {"of_run": run_id})
        self.k.journal.execute(_REQUEUE_RUN, {"of_run": run_id})
        return self.k.journal.execute(_BATCH_REOPENED, {"of_batch": batch_id})
