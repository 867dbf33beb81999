"""Step-result cache: the `intelligence` example workflow run twice over the same documents.

The first run does the work (OCR, the text and vision analyzers, the JSON export); the second
finds every deterministic step's result in the cache and reuses it (outputs, findings, document
text, artifacts by reference to their blobs). Both runs go through the whole engine with the
real SQLite store in a temp dir, wall time from submit (ingesting the files) to the batch
finished. Goal: the second run at least 50 times faster than the first.

    .venv/bin/python bench/cache.py              # the shared test documents, about a minute
    .venv/bin/python bench/cache.py --rounds 3   # more second runs (median reported)

Results: bench/results/cache.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

import paperchain_export
import paperchain_ocr
import paperchain_text
import paperchain_vision
from paperchain.documents import expand_paths
from paperchain.harness import KernelHarness
from paperchain.store import tables

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = Path(os.environ.get("PAPERCHAIN_TESTDATA", REPO.parent / "shared" / "testdata")) / "documents"
WORKFLOW = REPO / "examples" / "workflows" / "intelligence.toml"
GOAL_RATIO = 50


def run_once(harness: KernelHarness, workflow, files: list[str]) -> dict:
    engine = harness.kernel.engine

    async def batch():
        t0 = time.perf_counter()
        batch_id = await engine.submit(workflow, files)
        await engine.run_batch(batch_id)
        wall = time.perf_counter() - t0
        steps, runs = tables.steps, tables.runs
        rows = await harness.kernel.sql.read(
            sa.select(steps.c.status, steps.c.cached, sa.func.count().label("n"))
            .select_from(steps.join(runs, runs.c.id == steps.c.run_id))
            .where(runs.c.batch_id == batch_id).group_by(steps.c.status, steps.c.cached))
        counts = {f"{row.status}{' (cached)' if row.cached else ''}": row.n for row in rows}
        return {"wall_s": wall, "steps": counts}

    return harness.call(batch())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=Path, default=DOCUMENTS, help="a folder of documents")
    parser.add_argument("--rounds", type=int, default=3, help="second runs (the median is reported)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        harness = KernelHarness([paperchain_ocr, paperchain_text, paperchain_vision, paperchain_export], data_dir=data_dir)
        try:
            workflow = harness.kernel.load_workflow(WORKFLOW)
            files = expand_paths([args.documents])
            first = run_once(harness, workflow, files)
            again = [run_once(harness, workflow, files) for _ in range(args.rounds)]
        finally:
            harness.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    second = statistics.median(r["wall_s"] for r in again)
    ratio = first["wall_s"] / second
    print(f"intelligence workflow over {len(files)} documents ({args.documents}); {os.cpu_count()} cores")
    print(f"  first run:  {first['wall_s']:8.3f} s   steps {first['steps']}")
    for n, r in enumerate(again, 1):
        print(f"  again #{n}:   {r['wall_s']:8.3f} s   steps {r['steps']}")
    print(f"Second run (median of {args.rounds}): {second * 1000:.0f} ms; first/second = {ratio:.0f}x "
          f"(goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'})")
    results = {
        "benchmark": "cache", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "documents": len(files),
        "first": first, "again": again, "second_median_s": second, "ratio": ratio, "goal_ratio": GOAL_RATIO,
    }
    out = REPO / "bench" / "results" / "cache.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"Wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
