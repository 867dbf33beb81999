"""Plugin storage: the moved plugins' writes before (their own sqlite3 connections) and after (the
host's storage handle, SQLAlchemy Core) on SQLite, and after on PostgreSQL, in one run.

Workloads, each as operations per second:
- triggers state: ``put`` upserts of a threshold's state (one durable transaction each), by 1 and
  by 16 concurrent writers, and webhook ``claim_signature`` calls (insert-if-absent);
- vision index: ``add`` a document's hashes (3 pages x 3 algorithms, replacing older rows).

"Before" is the code as it was at the commit before plugin storage (read from git, run as it was:
sqlite3 in a worker thread, ``BEGIN IMMEDIATE``). SQLite runs with ``synchronous=NORMAL`` in WAL
(the kernel's default); PostgreSQL is a throwaway durable server (fsync on, as deployed) from
Debian's ``postgresql`` on loopback. The variants take turns, three rounds, and each keeps its best
round, so a busy machine (other processes) skews no variant more than another. The figures worth
reading are the ratios, taken in one run on one machine.

    .venv/bin/python bench/plugin_storage.py           # 2,000 operations per workload
    .venv/bin/python bench/plugin_storage.py --quick   # 300

Results: bench/results/plugin_storage.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEFORE = "f1fe2db^"  # the commit before plugin storage
ROUNDS = 3


def _module_at(revision: str, path: str, name: str, replace: dict[str, str] | None = None) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    for old, new in (replace or {}).items():
        source = source.replace(old, new)
    module = types.ModuleType(name)
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


class _Host:
    """What the moved plugins ask of the kernel here: only ``storage``."""

    def __init__(self, storages):
        self.storage = storages.get
        self.db_path = "bench"


async def _rate(count: int, concurrency: int, operation) -> float:
    queue = iter(range(count))

    async def worker():
        for i in queue:
            await operation(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


def _findings(i: int) -> dict:
    word = f"{i:016x}"
    return {"hash_size": 8, "pages": [{"page": p, "ahash": word, "dhash": word, "phash": word} for p in (1, 2, 3)]}


async def _workloads(state, index_add, count: int) -> dict:
    figures = {}
    figures["triggers put, 1 writer"] = await _rate(count, 1, lambda i: state.put(f"threshold:{i % 50}", {"n": i}))
    figures["triggers put, 16 writers"] = await _rate(count, 16, lambda i: state.put(f"threshold:{i % 50}", {"n": i}))
    figures["webhook claim_signature, 16 writers"] = await _rate(
        count, 16, lambda i: state.claim_signature(f"sig-{i}", "wf", 300.0))
    figures["vision add (9 rows), 1 writer"] = await _rate(count // 2, 1, lambda i: index_add(f"doc-{i}", _findings(i)))
    return figures


async def _before(folder: Path, count: int) -> dict:
    old_state = _module_at(BEFORE, "plugins/triggers/paperchain_triggers/state.py", "old_triggers_state")
    old_index = _module_at(BEFORE, "plugins/vision/paperchain_vision/index.py", "old_vision_index",
                           {"from .settings import": "from paperchain_vision.settings import"})
    db = folder / "before.db"
    state = old_state.StateStore(db)
    index = old_index.HashIndex(db)
    try:
        return await _workloads(state, lambda d, f: asyncio.to_thread(index.add, d, f), count)
    finally:
        await state.close()


async def _after(url: str, count: int) -> dict:
    from paperchain.store.database import Database
    from paperchain.store.plugin_storage import PluginStorages
    from paperchain_triggers.state import StateStore
    from paperchain_vision.index import HashIndex

    database = await Database.open(url)
    try:
        host = _Host(PluginStorages(database))
        state = StateStore(host)
        index = HashIndex(host)
        await state.get("warm")  # migrations run once, outside the timing
        await index.add("warm", _findings(0))
        return await _workloads(state, index.add, count)
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 operations per workload")
    args = parser.parse_args()
    count = 300 if args.quick else 2000
    sys.path.insert(0, str(ROOT / "sdk"))
    from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("PostgreSQL is not installed (apt-get install postgresql): its column is left out")
    cluster = PostgresCluster(bin_dir, durable=True).start() if bin_dir else None
    results: dict = {"operations": count, "rounds": ROUNDS}
    try:
        with tempfile.TemporaryDirectory(prefix="paperchain-bench-") as tmp:
            folder = Path(tmp)
            variants = {"sqlite before": lambda: _before(folder, count),
                        "sqlite after": lambda: _after(f"sqlite+aiosqlite:///{folder / 'after.db'}", count)}
            if cluster:
                url = cluster.create_database("bench")
                variants["postgresql after"] = lambda: _after(url, count)
            for _ in range(ROUNDS):
                for name, run in variants.items():
                    figures = asyncio.run(run())
                    best = results.setdefault(name, {})
                    for workload, rate in figures.items():
                        best[workload] = max(best.get(workload, 0.0), rate)
    finally:
        if cluster:
            cluster.stop()
    before, after, pg = results["sqlite before"], results["sqlite after"], results.get("postgresql after")
    results["ratios"] = {name: {"sqlite after / before": round(after[name] / before[name], 2),
                                **({"postgresql / sqlite after": round(pg[name] / after[name], 2)} if pg else {})}
                         for name in before}
    print(f"{'workload':40} {'before/s':>10} {'after/s':>10} {'ratio':>6} {'pg/s':>10} {'pg/after':>8}")
    for name in before:
        line = f"{name:40} {before[name]:10.0f} {after[name]:10.0f} {after[name] / before[name]:6.2f}"
        if pg:
            line += f" {pg[name]:10.0f} {pg[name] / after[name]:8.2f}"
        print(line)
    out = HERE / "results" / "plugin_storage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
