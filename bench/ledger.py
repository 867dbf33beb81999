"""Benchmark of paperchain-ledger against pymerkle and a plain hashlib loop, in the same run.

1. Tree work: append N entries in batches (durable SQLite commits; the loader keeps --window
   batches queued, so the log hashes one batch while the previous one is fsynced; the same load
   one batch at a time is timed too), compute the root, generate and
   verify 10,000 inclusion and 1,000 consistency proofs; pymerkle's InmemoryTree does the same on
   the same entries (goal: ledger >= 20x faster). A plain hashlib loop computes only the root of
   the same entries (goal: ledger's append + root >= 0.8 of that loop's speed).
2. Durable appends: 50 threads append one entry at a time, each waiting for its commit (fsync)
   and its receipt (goal: >= 3,000 entries/s).

    python bench/ledger.py                  # 1,000,000 entries (pymerkle takes minutes)
    python bench/ledger.py --entries 100000 # quick mode
    python bench/ledger.py --entries 100000 --skip-peer --postgres   # the log on a throwaway PostgreSQL
                                            # cluster (Debian's postgresql, durable settings: fsync on)
Writes bench/results/ledger.json (ledger-postgresql.json with --postgres or --database-url).

The log is in its own database (paperchain_ledger.storage): by default a SQLite file in a temporary
folder (synchronous=FULL); with --postgres or --database-url its PostgreSQL schema, a fresh
database (or schema) per phase.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from paperchain_ledger import merkle
from paperchain_ledger.log import LedgerLog, Pending
from paperchain_ledger.storage import checkpoints


def make_entries(n: int) -> list[bytes]:
    return [b'{"kind":"notarization","sha256":"%064x","seq":%d}' % (i * 2654435761, i) for i in range(n)]


def plain_root(entries: list[bytes]) -> tuple[float, bytes]:
    """The baseline: the tightest plain hashlib loop we know for the RFC 9162 root, nothing stored."""
    sha = hashlib.sha256
    start = time.perf_counter()
    level = [sha(b"\x00" + e).digest() for e in entries]
    while len(level) > 1:
        it = iter(level)
        paired = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return time.perf_counter() - start, level[0]


def load(log: LedgerLog, entries: list[bytes], batch: int, window: int) -> None:
    """A bulk loader: keeps up to ``window`` batches queued, each answered after its own durable
    commit (window 1: one batch at a time, waiting for each commit before sending the next)."""
    in_flight: collections.deque = collections.deque()
    for at in range(0, len(entries), batch):
        if len(in_flight) >= window:
            in_flight.popleft().result()
        in_flight.append(log.submit(Pending(entries[at:at + batch])))
    for future in in_flight:
        future.result()


class Databases:
    """Where each phase's fresh log goes: a SQLite file in its temporary folder, or PostgreSQL."""

    def __init__(self, url: str | None = None, cluster=None):
        self.url, self.cluster = url, cluster

    def open(self, folder: Path) -> LedgerLog:
        if self.cluster is not None:
            return LedgerLog.open(folder, url=self.cluster.create_database("ledger_bench"))
        if self.url:
            import sqlalchemy as sa
            from sqlalchemy.engine import make_url

            engine = sa.create_engine(make_url(self.url).set(drivername="postgresql+psycopg"))
            with engine.begin() as conn:  # a fresh log: the previous phase's schema goes
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS ledger CASCADE")
            engine.dispose()
        return LedgerLog.open(folder, url=self.url)


DATABASES = Databases()


def sequential_append(entries, batch) -> float:
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    log = DATABASES.open(folder / "ledger")
    try:
        t0 = time.perf_counter()
        load(log, entries, batch, 1)
        return time.perf_counter() - t0
    finally:
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def ours(entries, batch, window, inclusions, consistencies, rng) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    log = DATABASES.open(folder / "ledger")
    try:
        t0 = time.perf_counter()
        load(log, entries, batch, window)
        t1 = time.perf_counter()
        n = log.size
        root = log.root()
        t2 = time.perf_counter()
        for _ in range(inclusions):
            i = rng.randrange(n)
            proof = log.inclusion_proof(i, n)
            merkle.verify_inclusion(i, n, merkle.leaf_hash(entries[i]), proof, root)
        t3 = time.perf_counter()
        for _ in range(consistencies):
            m = rng.randint(1, n)
            merkle.verify_consistency(m, n, log.root(m), root, log.consistency_proof(m, n))
        t4 = time.perf_counter()
    finally:
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {"append_s": t1 - t0, "root_s": t2 - t1, "inclusion_s": t3 - t2, "consistency_s": t4 - t3,
            "total_s": t4 - t0, "root": root.hex()}


def peer(entries, inclusions, consistencies, rng) -> dict:
    from pymerkle import InmemoryTree, verify_consistency, verify_inclusion

    tree = InmemoryTree(algorithm="sha256")
    t0 = time.perf_counter()
    for entry in entries:
        tree.append_entry(entry)
    t1 = time.perf_counter()
    n = tree.get_size()
    root = tree.get_root(n)
    t2 = time.perf_counter()
    for _ in range(inclusions):
        i = rng.randrange(n)
        proof = tree.prove_inclusion(i + 1, n)  # pymerkle counts leaves from 1
        verify_inclusion(tree.get_leaf(i + 1), root, proof)
    t3 = time.perf_counter()
    for _ in range(consistencies):
        m = rng.randint(1, n)
        verify_consistency(tree.get_root(m), root, tree.prove_consistency(m, n))
    t4 = time.perf_counter()
    return {"append_s": t1 - t0, "root_s": t2 - t1, "inclusion_s": t3 - t2, "consistency_s": t4 - t3,
            "total_s": t4 - t0, "root": root.hex()}


def durable(writers: int, per_writer: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    log = DATABASES.open(folder / "ledger")
    barrier = threading.Barrier(writers + 1)

    def writer(w):
        barrier.wait()
        for i in range(per_writer):
            log.append(b'{"writer":%d,"n":%d}' % (w, i))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    try:
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        commits = log.read(sa.select(sa.func.count()).select_from(checkpoints))[0][0] - 1
        with log.database.connect() as conn:  # every commit durable: SQLite FULL (2), PostgreSQL on
            setting = "PRAGMA synchronous" if log.dialect == "sqlite" else "SHOW synchronous_commit"
            synchronous = conn.exec_driver_sql(setting).scalar() in (2, "on")
    finally:
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
    total = writers * per_writer
    return {"writers": writers, "entries": total, "seconds": elapsed, "entries_per_s": total / elapsed,
            "commits": commits, "entries_per_commit": total / max(commits, 1), "durable_commits": synchronous,
            "database": log.dialect}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to append (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=50_000, help="entries per durable append (default 50,000)")
    parser.add_argument("--window", type=int, default=2,
                        help="batches the loader keeps queued (default 2; 1 = wait for each commit)")
    parser.add_argument("--inclusions", type=int, default=10_000)
    parser.add_argument("--consistencies", type=int, default=1_000)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--per-writer", type=int, default=200, help="entries each concurrent writer appends")
    parser.add_argument("--skip-peer", action="store_true", help="skip pymerkle (slow at 1M entries)")
    parser.add_argument("--database-url", help="the log on this PostgreSQL (postgresql+asyncpg://USER@HOST:PORT/DB; "
                        "its schema ledger is dropped and made again for each phase)")
    parser.add_argument("--postgres", action="store_true", help="the log on a throwaway local PostgreSQL cluster "
                        "(Debian's postgresql, durable settings)")
    parser.add_argument("--out", default=None, help="default: bench/results/ledger.json (ledger-postgresql.json)")
    args = parser.parse_args()
    cluster = None
    if args.postgres and not args.database_url:
        from paperchain_sdk.testing.postgres import INSTALL_HINT, PostgresCluster, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            parser.error(f"--postgres needs PostgreSQL installed: {INSTALL_HINT}")
        cluster = PostgresCluster(bin_dir, durable=True).start()
    try:
        _run(args, Databases(args.database_url, cluster))
    finally:
        if cluster is not None:
            cluster.stop()


def _run(args, databases: Databases) -> None:
    global DATABASES
    DATABASES = databases
    on_postgres = bool(databases.url or databases.cluster)
    out = args.out or str(Path(__file__).parent / "results" / ("ledger-postgresql.json" if on_postgres else "ledger.json"))

    entries = make_entries(args.entries)
    plain_s, plain = plain_root(entries)
    ours_r = ours(entries, args.batch, args.window, args.inclusions, args.consistencies, random.Random(1))
    sequential_s = sequential_append(entries, args.batch)
    assert bytes.fromhex(ours_r["root"]) == plain, "ledger root differs from the plain loop's"
    peer_r = None if args.skip_peer else peer(entries, args.inclusions, args.consistencies, random.Random(1))
    if peer_r:
        assert peer_r["root"] == ours_r["root"], "pymerkle's root differs"
    dur = durable(args.writers, args.per_writer)

    ours_build = ours_r["append_s"] + ours_r["root_s"]
    result = {"entries": args.entries, "batch": args.batch, "inclusions": args.inclusions,
              "consistencies": args.consistencies, "ledger": ours_r, "pymerkle": peer_r, "plain_root_s": plain_s,
              "speed_vs_pymerkle": peer_r["total_s"] / ours_r["total_s"] if peer_r else None,
              "speed_vs_plain_root": plain_s / ours_build, "window": args.window,
              "sequential_append_s": sequential_s, "sequential_speed_vs_plain_root": plain_s / sequential_s,
              "durable": dur, "database": "postgresql" if on_postgres else "sqlite"}

    print(f"on {result['database']}: {args.entries:,} entries, batches of {args.batch:,}; {args.inclusions:,} inclusion + "
          f"{args.consistencies:,} consistency proofs generated and verified")
    print(f"{'phase':<28}{'ledger s':>12}{'pymerkle s':>12}{'ratio':>9}")
    for phase in ("append_s", "root_s", "inclusion_s", "consistency_s", "total_s"):
        theirs = peer_r[phase] if peer_r else float("nan")
        ratio = theirs / ours_r[phase] if peer_r and ours_r[phase] else float("nan")
        print(f"{phase[:-2]:<28}{ours_r[phase]:>12.3f}{theirs:>12.3f}{ratio:>8.1f}x")
    print(f"{'plain hashlib root only':<28}{plain_s:>12.3f}")
    print(f"ledger vs pymerkle (total): {result['speed_vs_pymerkle'] or float('nan'):.1f}x  (goal >= 20x)")
    print(f"ledger append+root vs plain hashlib root loop: {result['speed_vs_plain_root']:.2f} of its speed  (goal >= 0.8; "
          f"loader keeps {args.window} batches queued)")
    print(f"  one batch at a time (window 1): append {sequential_s:.3f} s = "
          f"{result['sequential_speed_vs_plain_root']:.2f} of the plain loop's speed")
    print(f"durable appends, {dur['writers']} writers, fsync per commit: {dur['entries_per_s']:,.0f} entries/s "
          f"({dur['entries_per_commit']:.1f} entries per commit; goal >= 3,000/s)")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
