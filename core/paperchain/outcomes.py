"""What a batch, run and step came to, read back from the database (the source of truth)."""

from __future__ import annotations

import json

import attrs
import sqlalchemy as sa

from .store.tables import artifacts, batches, documents, runs, steps


@attrs.frozen
class StepOutcome:
    id: str
    uses: str
    status: str
    attempts: int
    outputs: dict
    error: str | None
    started: str | None
    finished: str | None
    cached: bool = False


@attrs.frozen
class ArtifactOutcome:
    step: str
    name: str
    media_type: str
    sha256: str
    size: int
    download: str  # the API route that serves it: never the blob's path on the server


@attrs.frozen
class RunOutcome:
    id: str
    kind: str
    status: str
    document_id: str | None
    document_name: str | None
    error: str | None
    steps: dict[str, StepOutcome]
    artifacts: tuple[ArtifactOutcome, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@attrs.frozen
class BatchOutcome:
    id: str
    workflow: str
    status: str
    runs: tuple[RunOutcome, ...]  # document (or inputs) runs, in input order
    batch_run: RunOutcome | None  # the batch steps' run, if the workflow has batch steps
    paths: tuple[str, ...] = ()  # the input files, in the same order as runs

    def label(self, index: int) -> str:
        """The document's name, or the input file's for a file that could not be ingested."""
        run = self.runs[index]
        if run.document_name:
            return run.document_name
        return self.paths[index].rsplit("/", 1)[-1] if index < len(self.paths) else "-"

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts


_STEP_COLUMNS = (steps.c.step_id, steps.c.uses, steps.c.status, steps.c.attempts, steps.c.error, steps.c.started,
                 steps.c.finished, steps.c.cached)


async def load_run(kernel, run_id: str, *, outputs: bool = True) -> RunOutcome:
    """A run as stored. ``outputs=False`` leaves step outputs out (they may hold whole texts)."""
    row = await kernel.sql.first(
        sa.select(runs.c.id, runs.c.kind, runs.c.status, runs.c.document_id, documents.c.name.label("document_name"),
                  runs.c.error)
        .select_from(runs.outerjoin(documents, documents.c.id == runs.c.document_id)).where(runs.c.id == run_id))
    if row is None:
        from paperchain_sdk import ConfigError

        raise ConfigError(f"There is no run {run_id}.", hint="`paperchain runs list` shows the runs")
    columns = (*_STEP_COLUMNS, steps.c.outputs) if outputs else _STEP_COLUMNS
    # Steps not started yet first, as SQLite puts NULL first (PostgreSQL would put them last).
    step_rows = await kernel.sql.read(sa.select(*columns).where(steps.c.run_id == run_id)
                                      .order_by(steps.c.started.asc().nulls_first(), steps.c.step_id))
    found = {
        s.step_id: StepOutcome(s.step_id, s.uses, s.status, s.attempts,
                               json.loads((s.outputs if outputs else None) or "{}"), s.error, s.started, s.finished,
                               bool(s.cached))
        for s in step_rows
    }
    artifact_rows = await kernel.sql.read(
        sa.select(artifacts.c.step_id, artifacts.c.name, artifacts.c.media_type, artifacts.c.sha256, artifacts.c.size)
        .where(artifacts.c.run_id == run_id).order_by(artifacts.c.created, artifacts.c.step_id, artifacts.c.name))
    listed = tuple(ArtifactOutcome(a.step_id, a.name, a.media_type, a.sha256, a.size,
                                   f"/api/v1/runs/{run_id}/artifacts/{a.step_id}/{a.name}") for a in artifact_rows)
    return RunOutcome(row.id, row.kind, row.status, row.document_id, row.document_name, row.error, found, listed)


async def load_batch(kernel, batch_id: str, *, outputs: bool = True) -> BatchOutcome:
    batch = await kernel.sql.first(sa.select(batches.c.workflow, batches.c.status, batches.c.paths)
                                   .where(batches.c.id == batch_id))
    if batch is None:
        from paperchain_sdk import ConfigError

        raise ConfigError(f"There is no batch {batch_id}.", hint="`paperchain runs list` shows the runs and their batches")
    rows = await kernel.sql.read(sa.select(runs.c.id, runs.c.kind).where(runs.c.batch_id == batch_id)
                                 .order_by(runs.c.seq, runs.c.id))
    listed, batch_run = [], None
    for row in rows:
        outcome = await load_run(kernel, row.id, outputs=outputs)
        if row.kind == "batch":
            batch_run = outcome
        else:
            listed.append(outcome)
    return BatchOutcome(batch_id, batch.workflow, batch.status, tuple(listed), batch_run,
                        tuple(json.loads(batch.paths or "[]")))
