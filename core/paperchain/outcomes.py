"""What a batch, run and step came to, read back from the database (the source of truth)."""

from __future__ import annotations

import json

import attrs


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


async def load_run(kernel, run_id: str, *, outputs: bool = True) -> RunOutcome:
    """A run as stored. ``outputs=False`` leaves step outputs out (they may hold whole texts)."""
    db = kernel.db
    async with db.execute(
        "SELECT r.id, r.kind, r.status, r.document_id, d.name, r.error FROM runs r "
        "LEFT JOIN documents d ON d.id = r.document_id WHERE r.id = ?", (run_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        from paperchain_sdk import ConfigError

        raise ConfigError(f"There is no run {run_id}.", hint="`paperchain runs list` shows the runs")
    steps = {}
    async with db.execute(
        f"SELECT step_id, uses, status, attempts, {'outputs' if outputs else 'NULL'}, error, started, finished, cached "
        "FROM steps WHERE run_id = ? ORDER BY started", (run_id,),
    ) as cursor:
        async for s in cursor:
            steps[s[0]] = StepOutcome(s[0], s[1], s[2], s[3], json.loads(s[4] or "{}"), s[5], s[6], s[7], bool(s[8]))
    artifacts = []
    async with db.execute(
        "SELECT step_id, name, media_type, sha256, size FROM artifacts WHERE run_id = ? ORDER BY created", (run_id,)
    ) as cursor:
        async for a in cursor:
            artifacts.append(ArtifactOutcome(a[0], a[1], a[2], a[3], a[4], f"/api/v1/runs/{run_id}/artifacts/{a[0]}/{a[1]}"))
    return RunOutcome(row[0], row[1], row[2], row[3], row[4], row[5], steps, tuple(artifacts))


async def load_batch(kernel, batch_id: str, *, outputs: bool = True) -> BatchOutcome:
    async with kernel.db.execute("SELECT workflow, status, paths FROM batches WHERE id = ?", (batch_id,)) as cursor:
        workflow, status, paths = await cursor.fetchone()
    async with kernel.db.execute("SELECT id, kind FROM runs WHERE batch_id = ? ORDER BY seq", (batch_id,)) as cursor:
        rows = await cursor.fetchall()
    runs, batch_run = [], None
    for run_id, kind in rows:
        outcome = await load_run(kernel, run_id, outputs=outputs)
        if kind == "batch":
            batch_run = outcome
        else:
            runs.append(outcome)
    return BatchOutcome(batch_id, workflow, status, tuple(runs), batch_run, tuple(json.loads(paths or "[]")))
