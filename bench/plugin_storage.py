"""Plugin storage: the moved plugins' writes before (their own sqlite3 connections) and after (the
host's storage handle, SQLAlchemy Core) on SQLite, and after on PostgreSQL, in one run.

Workloads, each as operations per second:
- triggers state: ``put`` upserts of a threshold's state (one durable transaction each), by 1 and
  by 16 concurrent writers, and webhook ``claim_signature`` calls (insert-if-absent);
- vision index: ``add`` a document's hashes (3 pages x 3 algorithms, replacing older rows);
- models registry: ``add`` a model version (before: the next number read and the row inserted in a
  ``BEGIN IMMEDIATE`` block, then the version read back; after: one INSERT ... SELECT), by 1 writer
  and by 16 (16 models).

"Before" is the code as it was at the commit before plugin storage (read from git, run as it was:
sqlite3 in a worker thread, ``BEGIN IMMEDIATE``). SQLite runs with ``synchronous=NORMAL`` in WAL
(the kernel's default); PostgreSQL is a throwaway durable server (fsync on, as deployed) from
Debian's ``postgresql`` on loopback. The variants take turns, three rounds, and each keeps its best
round, so a busy machine (other processes) skews no variant more than another. The figures worth
reading are the ratios, taken in one run on one machine.

    .venv/bin/python bench/plugin_storage.py           # 2,000 operations per workload
    .venv/bin/python bench/plugin_storage.py --quick   # 300
    .venv/bin/python bench/plugin_storage.py --notify  # only the notify outbox section (end of file)

Results: bench/results/plugin_storage.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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


class _Blobs:
    """The registry's blob store, in memory: the same for before and after, so only the SQL differs."""

    def put_bytes(self, data: bytes):
        return hashlib.sha256(data).hexdigest(), len(data), None


def _model_add(registry, i: int):
    return registry.add(f"m{i % 16}", b"onnx", kind="onnx", task="", inputs=[], outputs=[], labels=["a"],
                        metrics={"accuracy": 0.9}, created_by="bench")


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


async def _workloads(state, index_add, model_add, count: int) -> dict:
    figures = {}
    figures["triggers put, 1 writer"] = await _rate(count, 1, lambda i: state.put(f"threshold:{i % 50}", {"n": i}))
    figures["triggers put, 16 writers"] = await _rate(count, 16, lambda i: state.put(f"threshold:{i % 50}", {"n": i}))
    figures["webhook claim_signature, 16 writers"] = await _rate(
        count, 16, lambda i: state.claim_signature(f"sig-{i}", "wf", 300.0))
    figures["vision add (9 rows), 1 writer"] = await _rate(count // 2, 1, lambda i: index_add(f"doc-{i}", _findings(i)))
    figures["models add version, 1 writer"] = await _rate(count // 2, 1, model_add)
    figures["models add version, 16 writers"] = await _rate(count // 2, 16, model_add)
    return figures


async def _before(folder: Path, count: int) -> dict:
    old_state = _module_at(BEFORE, "plugins/triggers/paperchain_triggers/state.py", "old_triggers_state")
    old_index = _module_at(BEFORE, "plugins/vision/paperchain_vision/index.py", "old_vision_index",
                           {"from .settings import": "from paperchain_vision.settings import"})
    old_registry = _module_at(BEFORE, "plugins/models/paperchain_models/registry.py", "old_models_registry")
    db = folder / "before.db"
    state = old_state.StateStore(db)
    index = old_index.HashIndex(db)
    registry = old_registry.Registry(old_registry.connect(db), _Blobs())
    try:
        return await _workloads(state, lambda d, f: asyncio.to_thread(index.add, d, f),
                                lambda i: asyncio.to_thread(_model_add, registry, i), count)
    finally:
        await state.close()
        registry.conn.close()


async def _after(url: str, count: int) -> dict:
    from paperchain.store.database import Database
    from paperchain.store.plugin_storage import PluginStorages
    from paperchain_models.registry import Registry
    from paperchain_models.storage import SCHEMA as MODELS
    from paperchain_triggers.state import StateStore
    from paperchain_vision.index import HashIndex

    database = await Database.open(url)
    try:
        host = _Host(PluginStorages(database))
        state = StateStore(host)
        index = HashIndex(host)
        await state.get("warm")  # migrations run once, outside the timing
        await index.add("warm", _findings(0))
        registry = Registry(await host.storage(MODELS), _Blobs())
        return await _workloads(state, index.add, lambda i: _model_add(registry, i), count)
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


# -- text: the near-duplicate index (MinHash LSH) ----------------------------------------------------
# Before: lsh_index.py as it was (its own sqlite3 connection, BEGIN IMMEDIATE, called in a worker
# thread as the engine ran the sync analyzer); after: the index on the host's storage handle, async.
# Workloads: ``add`` one document's signature (a new document: its row and up to 42 bucket rows),
# ``query`` a near-duplicate's signature against the filled index (candidates and their signatures
# in one statement), and the ``text.near_duplicates`` analyzer per document (sign, add, query,
# count), before as the old analyzer's calls in a thread, after the real async analyzer.
TEXT_BEFORE = "ab5e9e5^"  # the commit before the text index moved
TEXT_VOCABULARY = [f"w{i}" for i in range(20_000)]


def _texts(count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choices(TEXT_VOCABULARY, k=150)) for _ in range(count)]


def _near(text: str, seed: int) -> str:
    import random

    rng = random.Random(seed)
    words = text.split()
    for j in rng.sample(range(len(words)), len(words) // 20):  # 5% of the words replaced
        words[j] = rng.choice(TEXT_VOCABULARY)
    return " ".join(words)


async def _text_workloads(add, query, analyze, hasher, count: int, tag: str) -> dict:
    texts = _texts(count, seed=len(tag))
    sigs = [hasher.sign(t) for t in texts]
    near = [hasher.sign(_near(t, i)) for i, t in enumerate(texts[: count // 2])]
    figures = {"text lsh add, 1 writer": await _rate(count, 1, lambda i: add(f"{tag}-{i}", sigs[i])),
               "text lsh query (near-duplicate)": await _rate(count // 2, 1, lambda i: query(near[i]))}
    figures["text.near_duplicates analyzer, per document"] = await _rate(
        count // 2, 1, lambda i: analyze(f"{tag}-a{i}", _near(texts[i], i + 7)))
    return figures


async def _text_before(folder: Path, count: int, tag: str) -> dict:
    old = _module_at(TEXT_BEFORE, "plugins/text/paperchain_text/lsh_index.py", "old_text_index",
                     {"from .minhash": "from paperchain_text.minhash"})
    index = old.MinHashIndex(folder / "text-before.db")

    def analyze_sync(doc_id, text):  # what the old analyzer did once it had its index
        sig = index.hasher.sign(text)
        index.add(doc_id, sig)
        return index.query(sig, threshold=0.5, limit=20, exclude=doc_id), len(index)

    try:
        return await _text_workloads(lambda d, s: asyncio.to_thread(index.add, d, s),
                                     lambda s: asyncio.to_thread(index.query, s, threshold=0.5),
                                     lambda d, t: asyncio.to_thread(analyze_sync, d, t), index.hasher, count, tag)
    finally:
        index.close()


class _TextHost(_Host):
    """A kernel as the text plugin sees it: storage, its state slot, a data directory for documents."""

    def __init__(self, storages, data_dir: Path):
        super().__init__(storages)
        self.data_dir = data_dir
        self._state: dict = {}

    def plugin_state(self, plugin: str) -> dict:
        return self._state.setdefault(plugin, {})


async def _text_after(url: str, folder: Path, count: int, tag: str) -> dict:
    from paperchain.store.database import Database
    from paperchain.store.plugin_storage import PluginStorages
    from paperchain_sdk import Document
    from paperchain_text import runtime
    from paperchain_text.near_duplicates import NearDuplicatesAnalyzer
    from paperchain_text.settings import NearDuplicatesSettings

    database = await Database.open(url)
    host = _TextHost(PluginStorages(database), folder / f"kernel-{tag}")
    runtime.register_kernel(host)
    try:
        index = await runtime.open_index(host, num_perm=128, bands=42, seed=1, scheme="fnv1a-affine32",
                                         shingle_size=3)  # migrations run once, outside the timing
        analyzer, options = NearDuplicatesAnalyzer(), NearDuplicatesSettings()
        path = str(host.data_dir / "doc.txt")

        def analyze(doc_id, text):
            return analyzer.analyze(Document(id=doc_id, name="doc.txt", path=path, media_type="text/plain",
                                             size=len(text), text=text), options)

        return await _text_workloads(index.add, lambda s: index.query(s, threshold=0.5), analyze, index.hasher,
                                     count, tag)
    finally:
        runtime.unregister_kernel(host)
        await database.close()


def text_main() -> None:
    """The text section: its own alternating rounds, printed and added to the results file."""
    count = 300 if "--quick" in sys.argv else 2000
    from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    cluster = PostgresCluster(bin_dir, durable=True).start() if bin_dir else None
    results: dict = {"operations": count, "rounds": ROUNDS, "before": TEXT_BEFORE}
    try:
        with tempfile.TemporaryDirectory(prefix="paperchain-bench-text-") as tmp:
            folder = Path(tmp)
            variants = {"sqlite before": lambda tag: _text_before(folder, count, tag),
                        "sqlite after": lambda tag: _text_after(f"sqlite+aiosqlite:///{folder / 'after.db'}",
                                                                folder, count, tag)}
            if cluster:
                url = cluster.create_database("benchtext")
                variants["postgresql after"] = lambda tag: _text_after(url, folder, count, tag)
            for round_ in range(ROUNDS):
                for name, run in variants.items():  # new documents each round: every round inserts
                    figures = asyncio.run(run(f"r{round_}"))
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
    print(f"\n{'text workload':45} {'before/s':>9} {'after/s':>9} {'ratio':>6} {'pg/s':>9} {'pg/after':>8}")
    for name in before:
        line = f"{name:45} {before[name]:9.0f} {after[name]:9.0f} {after[name] / before[name]:6.2f}"
        if pg:
            line += f" {pg[name]:9.0f} {pg[name] / after[name]:8.2f}"
        print(line)
    per_doc = "text.near_duplicates analyzer, per document"
    print("analyzer ms per document: " + ", ".join(f"{name} {1000 / results[name][per_doc]:.2f}"
                                                   for name in variants))
    out = HERE / "results" / "plugin_storage.json"
    saved = json.loads(out.read_text()) if out.exists() else {}
    saved["text"] = results
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(saved, indent=2) + "\n")


# -- notify: the outbox -------------------------------------------------------------------------------
# Before: outbox.py as it was (its own sqlite3 connection in a thread, BEGIN IMMEDIATE); after: the
# outbox on the host's storage handle. Workloads: ``enqueue`` one message (insert, revive a dead
# letter of its key, read it back: one transaction), by 1 and by 16 writers; ``claim`` 16 due
# messages (marked 'sending'); and delivery-state writes: one outcome recorded (a retry's new
# state, committed), by 1 and by 16 writers (the worker groups outcomes; this is its worst case).

NOTIFY_BEFORE = "7814211^"  # the commit before notify moved onto plugin storage


def _message(i: int, tag: str) -> dict:
    return {"channel": "notify.webhook", "idempotency_key": f"{tag}:{i}", "recipient": f"https://hooks.test/{i}",
            "subject": "batch done", "body": "42 documents", "payload": json.dumps({"data": {"n": i}, "options": {}}),
            "priority": i % 3, "send_at": 0.0, "max_attempts": 5, "backoff": 1.0, "tenant": ""}


async def _notify_workloads(enqueue, claim, record, count: int, tag: str) -> dict:
    figures, ids = {}, []

    async def add(i, prefix):
        ids.extend(row["id"] for row in await enqueue([_message(i, prefix)]))

    figures["notify enqueue, 1 writer"] = await _rate(count // 2, 1, lambda i: add(i, f"{tag}a"))
    figures["notify enqueue, 16 writers"] = await _rate(count // 2, 16, lambda i: add(i, f"{tag}b"))
    figures["notify claim 16 due"] = await _rate(count // 16, 1, lambda i: claim(16))

    def outcome(i):
        return record([({"id": ids[i], "next_try": time.time() + 60, "payload": "{}"}, "queued", "attempt 1 failed")])

    figures["notify record an outcome, 1 writer"] = await _rate(count // 2, 1, outcome)
    figures["notify record an outcome, 16 writers"] = await _rate(count // 2, 16, lambda i: outcome(count // 2 + i))
    return figures


async def _notify_before(folder: Path, count: int, tag: str) -> dict:
    old = _module_at(NOTIFY_BEFORE, "plugins/notify/paperchain_notify/outbox.py", "old_notify_outbox",
                     {"from .transports import": "from paperchain_notify.transports import"})
    outbox = old.Outbox(types.SimpleNamespace(db_path=folder / "before.db"), {})
    try:
        return await _notify_workloads(outbox.enqueue, lambda n: outbox.call(outbox._claim, time.time(), n),
                                       lambda results: outbox.call(outbox._record, results), count, tag)
    finally:
        await outbox.stop()


async def _notify_after(url: str, count: int, tag: str) -> dict:
    from paperchain.store.database import Database
    from paperchain.store.plugin_storage import PluginStorages
    from paperchain_notify.outbox import Outbox
    from paperchain_notify.storage import SCHEMA as NOTIFY

    database = await Database.open(url)
    try:
        host = _Host(PluginStorages(database))
        outbox = Outbox(host, {})
        outbox.bind(await host.storage(NOTIFY))  # migrations run once, outside the timing; no worker task
        return await _notify_workloads(outbox.enqueue, lambda n: outbox._claim(time.time(), n), outbox._record,
                                       count, tag)
    finally:
        await database.close()


def notify_main() -> None:
    """The notify section: its own alternating rounds, printed and added to the results file."""
    count = 320 if "--quick" in sys.argv else 2000
    from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    cluster = PostgresCluster(bin_dir, durable=True).start() if bin_dir else None
    results: dict = {"operations": count, "rounds": ROUNDS, "before": NOTIFY_BEFORE}
    try:
        with tempfile.TemporaryDirectory(prefix="paperchain-bench-notify-") as tmp:
            folder = Path(tmp)
            variants = {"sqlite before": lambda tag: _notify_before(folder, count, tag),
                        "sqlite after": lambda tag: _notify_after(f"sqlite+aiosqlite:///{folder / 'after.db'}",
                                                                  count, tag)}
            if cluster:
                url = cluster.create_database("benchnotify")
                variants["postgresql after"] = lambda tag: _notify_after(url, count, tag)
            for round_ in range(ROUNDS):
                for name, run in variants.items():  # new keys each round: every round inserts
                    figures = asyncio.run(run(f"r{round_}"))
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
    print(f"\n{'notify workload':45} {'before/s':>9} {'after/s':>9} {'ratio':>6} {'pg/s':>9} {'pg/after':>8}")
    for name in before:
        line = f"{name:45} {before[name]:9.0f} {after[name]:9.0f} {after[name] / before[name]:6.2f}"
        if pg:
            line += f" {pg[name]:9.0f} {pg[name] / after[name]:8.2f}"
        print(line)
    out = HERE / "results" / "plugin_storage.json"
    saved = json.loads(out.read_text()) if out.exists() else {}
    saved["notify"] = results
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(saved, indent=2) + "\n")


if __name__ == "__main__":
    if "--notify" in sys.argv:  # only the notify section
        notify_main()
    else:
        main()
        text_main()
        notify_main()
