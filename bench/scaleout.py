"""Scale-out: the Celery executor against the local pool, in the same run, on this one machine.

    .venv/bin/python bench/scaleout.py                 # 200 no-op round trips, 40 OCR pages
    .venv/bin/python bench/scaleout.py --quick         # 50 round trips, 8 pages

1. No-op round trip: a one-step workflow of an async no-op action, run one at a time; each attempt is
   timed from ``Executor.submit`` to its result back in the engine (on Celery: the row written, the
   id sent through Redis, claimed by a worker, run, finished under the fence, the server woken by
   pub/sub and the row read back). p50 and p99, local pool (inline) against Celery.
2. OCR throughput: the ``scan`` workflow (examples/workflows/scan.toml: ocr.recognize, then the
   Markdown and JSON exports) over N single-page scans (different bytes, so nothing is deduplicated
   or cached), as one batch: the local pool with two processes against two ``paperchain worker``
   processes of concurrency 1. Pages per second and the ratio (goal: at least 0.85 of the local pool).

Every configuration runs on a throwaway PostgreSQL (Debian's, loopback, durable defaults) and Redis
(loopback, no persistence). The workers have data directories of their own; their ``blobs``
folders are links to the server's, so the blob store is the same local disk for both sides
(deployments on many machines use an S3 blob_url instead; no S3 figures are claimed here). The
no-op action is a throwaway installed distribution (an entry point), as workers load plugins.
Results: bench/results/scaleout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCUMENTS = Path(os.environ.get("PAPERCHAIN_TESTDATA", ROOT.parent / "shared" / "testdata")) / "documents"
RESULTS = HERE / "results" / "scaleout.json"
GOAL_OCR_RATIO = 0.85
MASTER_KEY = base64.b64encode(b"scaleout-bench-master-key-32byte").decode()

NOOP_PLUGIN = '''
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action


class Noop(Action):
    async def run(self, ctx, inputs):
        return {}


@hookimpl
def paperchain_actions():
    return [ActionSpec(name="bench.noop", impl=Noop)]
'''


def install_noop(root: Path) -> Path:
    """A throwaway distribution with the ``bench.noop`` action, visible through entry points."""
    root.mkdir(parents=True)
    (root / "paperchain_benchnoop.py").write_text(NOOP_PLUGIN)
    info = root / "paperchain_benchnoop-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: paperchain-benchnoop\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[paperchain]\nbenchnoop = paperchain_benchnoop\n")
    sys.path.insert(0, str(root))
    return root


def pages(folder: Path, count: int) -> list[Path]:
    """``count`` single-page scans: the sample PNGs, each copy with its own bytes (a text chunk)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    sources = sorted(DOCUMENTS.glob("*.png"))
    folder.mkdir(parents=True)
    made = []
    for i in range(count):
        source = sources[i % len(sources)]
        info = PngInfo()
        info.add_text("copy", str(i))
        path = folder / f"{source.stem}-{i:03d}.png"
        Image.open(source).save(path, pnginfo=info)
        made.append(path)
    return made


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Timed:
    """Wraps the engine's executor and notes each attempt's submit-to-result seconds."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, []

    def submit(self, attempt):
        started = time.perf_counter()
        future = self.inner.submit(attempt)
        future.add_done_callback(lambda _: self.seconds.append(time.perf_counter() - started))
        return future

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def open_kernel(data_dir: Path, database_url: str, *, executor: str, broker_url: str = "", workers: int = 2):
    from paperchain.config import load_config
    from paperchain.kernel import Kernel

    config = load_config(None, env={**os.environ, "PAPERCHAIN_DATA_DIR": str(data_dir),
                                    "PAPERCHAIN_DATABASE_URL": database_url, "PAPERCHAIN_EXECUTOR": executor,
                                    "PAPERCHAIN_BROKER_URL": broker_url, "PAPERCHAIN_WORKERS": str(workers)})
    return await Kernel(config).open()


def start_workers(count: int, server_dir: Path, base: Path, database_url: str, broker_url: str) -> list:
    processes = []
    for i in range(count):
        data_dir = base / f"worker-{i}"
        data_dir.mkdir(parents=True)
        (server_dir / "blobs").mkdir(parents=True, exist_ok=True)
        (data_dir / "blobs").symlink_to(server_dir / "blobs")  # the same local disk as the server's
        env = {**os.environ, "PAPERCHAIN_DATA_DIR": str(data_dir), "PAPERCHAIN_DATABASE_URL": database_url,
               "PAPERCHAIN_EXECUTOR": "celery", "PAPERCHAIN_BROKER_URL": broker_url,
               "PAPERCHAIN_MASTER_KEY": MASTER_KEY, "PYTHONPATH": os.pathsep.join(sys.path)}
        log = base / f"worker-{i}.log"
        processes.append((subprocess.Popen([sys.executable, "-m", "paperchain", "worker", "--concurrency", "1"],
                                           env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT), log))
    for process, log in processes:
        deadline = time.monotonic() + 120
        while "ready" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
    return [p for p, _ in processes]


def stop_workers(processes) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def round_trips(kernel, count: int) -> list[float]:
    engine = kernel.engine
    timed = Timed(engine.executor)
    engine.executor = engine.loop.executor = timed
    workflow = kernel.load_workflow({"name": "noop", "steps": [{"id": "noop", "uses": "bench.noop"}]})
    for _ in range(count + 5):
        batch = await engine.submit(workflow, inputs={})
        assert await engine.run_batch(batch) == "succeeded"
    engine.executor = engine.loop.executor = timed.inner
    return timed.seconds[5:]  # the first few warm connections and the worker up


async def ocr_batch(kernel, files: list[Path]) -> float:
    workflow = kernel.load_workflow(ROOT / "examples" / "workflows" / "scan.toml")
    started = time.perf_counter()
    batch = await kernel.engine.submit(workflow, files)
    assert await kernel.engine.run_batch(batch) == "succeeded", batch
    return time.perf_counter() - started


async def one_configuration(server_dir, database_url, executor, broker_url, files, count):
    kernel = await open_kernel(server_dir, database_url, executor=executor, broker_url=broker_url)
    try:
        return await round_trips(kernel, count), await ocr_batch(kernel, files)
    finally:
        await kernel.close()


def measure(args, work: Path, cluster, broker_url: str) -> dict:
    files = pages(work / "pages", args.pages)
    figures: dict = {}
    for executor in ("local", "celery"):
        database_url = cluster.create_database(f"scaleout_{executor}")
        server_dir = work / f"{executor}-server"
        workers = start_workers(2, server_dir, work / f"{executor}-workers", database_url, broker_url) \
            if executor == "celery" else []
        try:
            logs = sorted((work / f"{executor}-workers").glob("*.log")) if workers else []
            trips, seconds = asyncio.run(one_configuration(server_dir, database_url, executor, broker_url, files,
                                                           args.round_trips))
        finally:
            stop_workers(workers)
        if logs:  # how much of a round trip the worker itself spends (claim, run, finish: its task's log line)
            spent = [float(m) for log in logs for m in re.findall(r"step attempt \S+/noop/1: succeeded in ([0-9.]+) s",
                                                                   log.read_text())]
            print(f"        worker side of a no-op (claim, run, finish): p50 {statistics.median(spent) * 1000:.1f} ms")
        figures[executor] = {"round_trip_p50_ms": round(statistics.median(trips) * 1000, 3),
                             "round_trip_p99_ms": round(percentile(trips, 0.99) * 1000, 3),
                             "ocr_seconds": round(seconds, 2), "ocr_pages_per_s": round(args.pages / seconds, 3)}
        print(f"{executor:>6}: no-op round trip p50 {figures[executor]['round_trip_p50_ms']} ms, p99 "
              f"{figures[executor]['round_trip_p99_ms']} ms; OCR {args.pages} pages in {seconds:.1f} s "
              f"({figures[executor]['ocr_pages_per_s']} pages/s)", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 round trips and 8 pages")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--round-trips", type=int, default=None)
    args = parser.parse_args()
    args.pages = args.pages or (8 if args.quick else 40)
    args.round_trips = args.round_trips or (50 if args.quick else 200)
    os.environ["PAPERCHAIN_MASTER_KEY"] = MASTER_KEY

    from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir
    from paperchain_sdk.testing.redis import RedisServer, find_server

    bin_dir, redis_program = find_bin_dir(), find_server()
    if bin_dir is None or redis_program is None:
        print("needs Debian's postgresql and redis-server (make setup installs both)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="paperchain-scaleout-") as folder:
        work = Path(folder)
        install_noop(work / "site")
        cluster = PostgresCluster(bin_dir, durable=True).start()
        redis = RedisServer(redis_program).start()
        try:
            figures = measure(args, work, cluster, redis.url())
        finally:
            redis.stop()
            cluster.stop()
    local, celery = figures["local"], figures["celery"]
    ratio = celery["ocr_pages_per_s"] / local["ocr_pages_per_s"]
    print(f"no-op round trip, Celery / local: p50 x{celery['round_trip_p50_ms'] / local['round_trip_p50_ms']:.1f}, "
          f"p99 x{celery['round_trip_p99_ms'] / local['round_trip_p99_ms']:.1f}")
    print(f"OCR throughput, two Celery workers / local pool of two: {ratio:.2f} (goal >= {GOAL_OCR_RATIO})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                                   "pages": args.pages, "round_trips": args.round_trips, **figures,
                                   "ocr_ratio": round(ratio, 3), "goal_ocr_ratio": GOAL_OCR_RATIO}, indent=2) + "\n")
    return 0 if ratio >= GOAL_OCR_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
