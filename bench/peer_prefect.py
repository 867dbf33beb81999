"""The Prefect side of bench/engine.py: the same 10-step DAG of no-op tasks, one flow run per input.

Run by bench/engine.py with the .venv-bench interpreter (Prefect lives there, not in the project's
venv). Prefect 3 runs in its default local mode: no PREFECT_API_URL, so it starts its ephemeral
API server (a local subprocess with a SQLite database under PREFECT_HOME, a temp dir). Analytics
are off (PREFECT_SERVER_ANALYTICS_ENABLED=false, DO_NOT_TRACK=1) and the UI is not served.

"Durable" here: every flow and task run's state is recorded in Prefect's SQLite database through
its API (as Paperchain records every step), and results are persisted to local storage
(persist_result=True), as Paperchain journals every step's outputs. Each task result is stored
under its task run's id (result_storage_key="{task_run.id}"), so nothing is ever a cache hit:
every task runs. (With cache_policy=NO_CACHE Prefect 3 silently persists no task results.)
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="bench-prefect-home-")
atexit.register(shutil.rmtree, HOME, True)  # registered first, so it runs after Prefect stops its server
os.environ.pop("PREFECT_API_URL", None)
os.environ.update({
    "PREFECT_HOME": HOME,
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
})

sys.path.insert(0, str(Path(__file__).resolve().parent))
import prefect  # noqa: E402
from dag import NEEDS  # noqa: E402
from prefect import flow, task  # noqa: E402


@task(persist_result=True, result_storage_key="{task_run.id}")  # a unique key: persisted, never a cache hit
def noop(path: str) -> dict:
    return {}


@flow(persist_result=True)
def pipeline(path: str) -> dict:
    futures = {}
    for step_id, needs in NEEDS.items():
        futures[step_id] = noop.with_options(name=step_id).submit(path, wait_for=[futures[n] for n in needs])
    return futures["s10"].result()


BUSY_RETRIES = 4


def run_flow(path: str, retried: list) -> dict:
    """One flow run; one the local API server refused as busy (HTTP 503, seen under load) is run
    again after a pause, up to BUSY_RETRIES times, and counted, so the mode's figure is kept."""
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return pipeline(path)
        except Exception as exc:  # only a busy server is retried; the rest is re-raised
            if "503" not in str(exc) or attempt == BUSY_RETRIES:
                raise
            retried.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            time.sleep(0.5 * 2 ** attempt)
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", required=True, help="folder of input files (one flow run each)")
    parser.add_argument("--n-seq", type=int, default=30, help="flow runs one after another")
    parser.add_argument("--n-threads", type=int, default=80, help="flow runs spread over --threads threads")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    files = [str(p) for p in sorted(Path(args.inputs).iterdir())]
    retried: list[str] = []
    result = {"prefect_version": prefect.__version__, "steps_per_flow": len(NEEDS), "modes": [], "busy_retries": retried}
    try:
        t = time.perf_counter()
        run_flow(files[0], retried)  # starts the ephemeral server, creates the database, imports the engine
        result["first_flow_s"] = time.perf_counter() - t
        todo = iter(files[1:] + files)  # each flow run gets its own input
        if args.n_seq:
            batch = [next(todo) for _ in range(args.n_seq)]
            t = time.perf_counter()
            for path in batch:
                run_flow(path, retried)
            result["modes"].append({"mode": "sequential", "flow_runs": len(batch), "wall_s": time.perf_counter() - t})
        if args.n_threads:
            batch = [next(todo) for _ in range(args.n_threads)]
            t = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda path: run_flow(path, retried), batch))
            result["modes"].append({"mode": f"{args.threads} threads", "flow_runs": len(batch), "wall_s": time.perf_counter() - t})
        for mode in result["modes"]:
            mode["steps"] = mode["flow_runs"] * len(NEEDS)
            mode["steps_per_s"] = mode["steps"] / mode["wall_s"]
        storage = Path(HOME) / "storage"
        result["persisted_results"] = sum(1 for _ in storage.iterdir()) if storage.exists() else 0
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"  # the modes measured so far are kept
        raise
    finally:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
