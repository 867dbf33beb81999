"""Engine throughput: durable no-op steps per second, Paperchain against Prefect 3.

One batch of N documents (default 1,000 small files with different contents) through a 10-step
workflow of no-op actions (the DAG in bench/dag.py: a chain with two diamonds), with the real
SQLite store in a temp dir. Wall time runs from ``Engine.submit`` (which ingests the files) to
``run_batch`` returning (the batch is finished and its rows committed); ingestion is also shown
on its own. Prefect runs the same DAG as one flow run per input (bench/peer_prefect.py, in the
.venv-bench interpreter), fewer flow runs because each takes about a second.

    .venv/bin/python bench/engine.py                 # everything, about 1.5 minutes
    .venv/bin/python bench/engine.py --no-prefect    # Paperchain only, about 25 s
    .venv/bin/python bench/engine.py --profile       # also a cProfile of the default config
    .venv/bin/python bench/engine.py --no-prefect --postgres   # SQLite, then PostgreSQL, in one sitting
    .venv/bin/python bench/engine.py --database-url postgresql+asyncpg://USER@HOST/DB   # a server of yours

On PostgreSQL (``--database-url``, or ``--postgres``: a throwaway cluster of Debian's postgresql on
loopback with the server's durable defaults, fsync on) every batch gets a database of its own,
created beside the URL's and dropped afterwards; SQLite always runs too, so the report gives
PostgreSQL's figure as a share of SQLite's from the same run (the goal: at least half).

Results: bench/results/engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from dag import NEEDS, SHAPE  # noqa: E402

from paperchain.documents import expand_paths  # noqa: E402
from paperchain.harness import KernelHarness  # noqa: E402
from paperchain_sdk import ActionSpec, hookimpl  # noqa: E402

PREFECT_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
GOAL_STEPS_PER_S = 2000
GOAL_RATIO = 20
GOAL_POSTGRES_SHARE = 0.5  # PostgreSQL's steps/s at least half of SQLite's, same run

CONFIGS = {
    "default (concurrency 64, run_concurrency 64)": {},
    "concurrency 256, run_concurrency 256": {"concurrency": 256, "run_concurrency": 256},
    "default + durability=power (fsync each commit)": {"durability": "power"},
}


class Noop:
    """The no-op action: an async ``run`` returning no outputs."""

    def __init__(self, settings=None):
        self.settings = settings

    async def run(self, ctx, inputs):
        return {}


class BenchPlugin:
    @staticmethod
    @hookimpl
    def paperchain_actions():
        return [ActionSpec(name="bench.noop", impl=Noop, summary="does nothing")]


WORKFLOW = {"name": "bench-noop", "steps": [{"id": s, "uses": "bench.noop", "needs": n} for s, n in NEEDS.items()]}


def make_inputs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"doc{i:05d}.txt").write_text(f"document {i} {os.urandom(8).hex()}\n")


def _server_sql(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE) on the PostgreSQL server of ``url``."""
    import asyncio

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run():
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


class FreshDatabase:
    """A new database beside ``url``'s for one batch (``with``: created, then dropped); "" for SQLite."""

    count = 0

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.server = url
        FreshDatabase.count += 1
        self.name = f"paperchain_bench_{os.getpid()}_{FreshDatabase.count}"
        self.url = make_url(url).set(database=self.name).render_as_string(hide_password=False) if url else ""

    def __enter__(self) -> str:
        if self.server:
            _server_sql(self.server, f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *exc) -> None:
        if self.server:
            _server_sql(self.server, f'DROP DATABASE IF EXISTS "{self.name}"')


def run_paperchain(inputs: Path, settings: dict, profile: Path | None = None, database_url: str = "") -> dict:
    with FreshDatabase(database_url) as url:
        return _run_paperchain(inputs, settings, profile, url)


def _run_paperchain(inputs: Path, settings: dict, profile: Path | None, database_url: str) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-engine-data-"))
    harness = KernelHarness([BenchPlugin], data_dir=data_dir, config={"paperchain": dict(settings)},
                            database_url=database_url)
    try:
        engine = harness.kernel.engine
        workflow = harness.kernel.load_workflow(WORKFLOW)
        files = expand_paths([inputs])
        times = {}

        async def batch():
            t0 = time.perf_counter()
            batch_id = await engine.submit(workflow, files)
            t1 = time.perf_counter()
            status = await engine.run_batch(batch_id)
            t2 = time.perf_counter()
            times.update(submit=t1 - t0, run=t2 - t1, total=t2 - t0, status=status, batch_id=batch_id)

        commits_before = harness.kernel.journal.commits
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            harness.call(batch())
            profiler.disable()
            profiler.dump_stats(profile)
        else:
            harness.call(batch())

        import sqlalchemy as sa

        from paperchain.store import tables

        done = tables.steps.join(tables.runs, tables.runs.c.id == tables.steps.c.run_id)
        steps = harness.call(harness.kernel.sql.scalar(
            sa.select(sa.func.count()).select_from(done)
            .where(tables.runs.c.batch_id == times["batch_id"], tables.steps.c.status == "succeeded")))
        commits = harness.kernel.journal.commits - commits_before
    finally:
        t = time.perf_counter()
        harness.close()
        close_s = time.perf_counter() - t
        shutil.rmtree(data_dir, ignore_errors=True)
    expected = len(files) * len(NEEDS)
    if times.get("status") != "succeeded" or steps != expected:
        raise SystemExit(f"paperchain batch did not succeed: status {times.get('status')}, {steps}/{expected} steps succeeded")
    return {
        "runs": len(files), "steps": steps, "submit_s": times["submit"], "run_s": times["run"], "wall_s": times["total"],
        "steps_per_s": steps / times["total"], "steps_per_s_excluding_ingest": steps / times["run"],
        "journal_commits": commits, "kernel_close_s": close_s,
    }


def run_prefect(inputs: Path, n_seq: int, n_threads: int, threads: int, tries: int = 2) -> dict | None:
    """Prefect's figures. Its local API server answers 503 under load at times: the peer retries
    such flow runs; a peer that still fails is run again, and a partial result (the modes it
    finished) is kept with the error reported, so the ratio is not lost."""
    if not PREFECT_PYTHON.exists():
        print(f"Prefect skipped: {PREFECT_PYTHON} is missing (see bench/README.md to create it)")
        return None
    partial = None
    for attempt in range(1, tries + 1):
        out = Path(tempfile.mkstemp(prefix="bench-prefect-", suffix=".json")[1])
        try:
            cmd = [str(PREFECT_PYTHON), str(HERE / "peer_prefect.py"), "--inputs", str(inputs), "--n-seq", str(n_seq),
                   "--n-threads", str(n_threads), "--threads", str(threads), "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            result = json.loads(out.read_text() or "{}")
        finally:
            out.unlink(missing_ok=True)
        if result.get("busy_retries"):
            print(f"  prefect: {len(result['busy_retries'])} flow runs retried after its server answered 503")
        if proc.returncode == 0 and result.get("modes"):
            return result
        print(f"  prefect try {attempt} of {tries} failed (exit {proc.returncode}): "
              f"{result.get('error') or proc.stderr[-2000:]}")
        if result.get("modes"):
            partial = result
    if partial:
        print("  prefect: keeping the modes it finished")
    return partial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="documents in the Paperchain batch (runs)")
    parser.add_argument("--repeat", type=int, default=2, help="Paperchain batches per configuration (median reported)")
    parser.add_argument("--prefect-seq", type=int, default=30, help="Prefect flow runs one after another")
    parser.add_argument("--prefect-threaded", type=int, default=60, help="Prefect flow runs over --prefect-threads threads")
    parser.add_argument("--prefect-threads", type=int, default=4)
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one default batch; top functions printed")
    parser.add_argument("--database-url", default="", help="also run on this PostgreSQL server "
                        "(postgresql+asyncpg://USER@HOST:PORT/DB; a database per batch is created beside it)")
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway local PostgreSQL cluster "
                        "(Debian's postgresql, durable settings) when no --database-url is given")
    args = parser.parse_args()
    if args.database_url and not args.database_url.startswith("postgresql"):
        parser.error("--database-url takes a postgresql+asyncpg:// URL (SQLite always runs, in a temporary folder)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    cluster = None
    try:
        inputs = tmp / "inputs"
        make_inputs(inputs, args.n)
        print(f"DAG: {SHAPE}; {args.n} documents, {args.n * len(NEEDS)} steps per batch; {os.cpu_count()} cores\n")
        databases = {"sqlite": ""}
        if args.database_url:
            databases["postgresql"] = args.database_url
        elif args.postgres:
            cluster = _start_cluster()
            databases["postgresql"] = cluster.url()

        paperchain = []
        for name, settings in CONFIGS.items():
            for database, url in databases.items():  # interleaved: both see the machine in the same state
                rounds = [run_paperchain(inputs, settings, database_url=url) for _ in range(args.repeat)]
                median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
                paperchain.append({"config": name, "database": database, "settings": settings, "median": median,
                                   "rounds": rounds})
                each = ", ".join(f"{r['steps_per_s']:.0f}" for r in rounds)
                print(f"  paperchain {name} on {database}: {each} steps/s")

        prefect = None
        if not args.no_prefect:
            print(f"  prefect: {args.prefect_seq} sequential + {args.prefect_threaded} threaded flow runs (about 1 s each)…")
            prefect = run_prefect(inputs, args.prefect_seq, args.prefect_threaded, args.prefect_threads)

        profile_top = None
        if args.profile:
            profile_top = profile_default(inputs, tmp / "engine.prof")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    report(args, paperchain, prefect, profile_top)


def _start_cluster():
    from paperchain_sdk.testing.postgres import INSTALL_HINT, PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit(f"--postgres: PostgreSQL is not installed: {INSTALL_HINT}")
    return PostgresCluster(bin_dir, durable=True).start()


def profile_default(inputs: Path, path: Path) -> str:
    import io
    import pstats

    run_paperchain(inputs, {}, profile=path)
    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"paperchain.*\.py", 25)
    return buffer.getvalue()


def report(args, paperchain: list[dict], prefect: dict | None, profile_top: str | None) -> None:
    print()
    header = f"{'engine / configuration':<56} {'runs':>6} {'steps':>7} {'ingest s':>9} {'steps s':>8} {'wall s':>7} {'steps/s':>8} {'excl. ingest':>12}"
    print(header)
    print("-" * len(header))
    for entry in paperchain:
        m = entry["median"]
        label = f"paperchain {entry['config']}" + (" [PostgreSQL]" if entry["database"] != "sqlite" else "")
        print(f"{label:<56} {m['runs']:>6.0f} {m['steps']:>7.0f} {m['submit_s']:>9.2f} {m['run_s']:>8.2f} "
              f"{m['wall_s']:>7.2f} {m['steps_per_s']:>8.0f} {m['steps_per_s_excluding_ingest']:>12.0f}")
    best_prefect = None
    if prefect:
        for mode in prefect["modes"]:
            print(f"{'prefect ' + prefect['prefect_version'] + ', ' + mode['mode']:<56} {mode['flow_runs']:>6} {mode['steps']:>7} "
                  f"{'-':>9} {mode['wall_s']:>8.2f} {mode['wall_s']:>7.2f} {mode['steps_per_s']:>8.1f} {'-':>12}")
        best_prefect = max(prefect["modes"], key=lambda m: m["steps_per_s"])
    print()
    default = paperchain[0]["median"]["steps_per_s"]  # SQLite's default configuration
    print(f"Paperchain default: {default:.0f} durable steps/s (goal >= {GOAL_STEPS_PER_S}: {'met' if default >= GOAL_STEPS_PER_S else 'NOT met'}), "
          f"median of {args.repeat}, wall time from submit (ingesting {args.n} files) to batch finished.")
    ratio = None
    if best_prefect:
        ratio = default / best_prefect["steps_per_s"]
        print(f"Prefect {prefect['prefect_version']} best: {best_prefect['steps_per_s']:.1f} steps/s ({best_prefect['mode']}, "
              f"N={best_prefect['flow_runs']} flow runs, not {args.n}: each takes about a second; first flow run incl. "
              f"server start {prefect['first_flow_s']:.1f} s, not counted; {prefect['persisted_results']} results persisted).")
        print(f"Ratio: {ratio:.0f}x (goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'})")
    postgres_share = {}
    for entry in paperchain:
        if entry["database"] != "sqlite":
            sqlite = next(e for e in paperchain if e["config"] == entry["config"] and e["database"] == "sqlite")
            postgres_share[entry["config"]] = entry["median"]["steps_per_s"] / sqlite["median"]["steps_per_s"]
    for config, share in postgres_share.items():
        print(f"PostgreSQL / SQLite, {config}: {share:.2f} (goal >= {GOAL_POSTGRES_SHARE}: "
              f"{'met' if share >= GOAL_POSTGRES_SHARE else 'NOT met'})")
    if profile_top:
        print("\ncProfile of one default batch (tottime):\n" + profile_top)

    results = {
        "benchmark": "engine", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "dag": SHAPE, "documents": args.n,
        "paperchain": paperchain, "prefect": prefect,
        "summary": {"paperchain_default_steps_per_s": default,
                    "prefect_best_steps_per_s": best_prefect["steps_per_s"] if best_prefect else None,
                    "ratio": ratio, "goal_steps_per_s": GOAL_STEPS_PER_S, "goal_ratio": GOAL_RATIO,
                    "postgres_share_of_sqlite": postgres_share or None, "goal_postgres_share": GOAL_POSTGRES_SHARE},
    }
    out = HERE / "results" / "engine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nWrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
