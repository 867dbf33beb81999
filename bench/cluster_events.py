"""Events with several servers on one PostgreSQL database (core/paperchain/cluster), against the
single-server path in the same run.

Two kernels on one throwaway durable PostgreSQL (Debian's ``postgresql`` on loopback, fsync on),
each with its own data directory. Figures:

- emits per second on one kernel, ``--events`` of them in waves of ``--concurrency`` at once
  (``kernel.emit`` with the journal's group commit): with the cluster (numbers from the ``counters``
  row, each event sent over NOTIFY after its commit) and, the peer, the same kernel with its cluster
  detached (numbers counted in the process, nothing sent: what one server did before);
- delivery latency from ``emit`` on one kernel to the other kernel's remote listeners (p50, p99).

    .venv/bin/python bench/cluster_events.py            # 5,000 events
    .venv/bin/python bench/cluster_events.py --quick    # 1,000 events

Results: bench/results/cluster_events.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))
sys.path.insert(0, str(HERE.parent / "sdk"))

from paperchain.config import Config, KernelSettings  # noqa: E402 - found through the path set above
from paperchain.kernel import Kernel  # noqa: E402
from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir  # noqa: E402


async def emits_per_second(kernel, count: int, concurrency: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, concurrency):
        await asyncio.gather(*(kernel.emit("bench.ping", str(i)) for i in range(start, min(count, start + concurrency))))
    await kernel.journal.flush()
    return count / (time.perf_counter() - started)


async def delivery_latency(sender, receiver, count: int) -> list[float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    def arrived(event) -> None:
        if event.type == "bench.latency" and event.subject in sent:
            latencies.append(time.perf_counter() - sent.pop(event.subject))
            if len(latencies) == count:
                done.set()

    receiver.remote_listeners.append(arrived)
    for i in range(count):
        sent[str(i)] = time.perf_counter()
        await sender.emit("bench.latency", str(i))
        await asyncio.sleep(0.002)  # one at a time, as a run's steps emit
    await asyncio.wait_for(done.wait(), 30)
    receiver.remote_listeners.remove(arrived)
    return latencies


async def main(events: int, concurrency: int) -> dict:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
    os.environ["PAPERCHAIN_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    server = PostgresCluster(bin_dir, durable=True).start()
    try:
        url = server.create_database("bench")
        with tempfile.TemporaryDirectory() as tmp:
            kernels = [Kernel(Config(source="bench", data_dir=Path(tmp) / name,
                                     kernel=KernelSettings(database_url=url)), plugins=[]) for name in ("a", "b")]
            for kernel in kernels:
                await kernel.open()
            a, b = kernels
            try:
                shared = await emits_per_second(a, events, concurrency)
                latencies = await delivery_latency(a, b, min(events, 1000))
                cluster, a.cluster = a.cluster, None  # the peer: one server's in-process numbers
                a._seq = cluster.sequence.last + 10 * events  # clear of the numbers already used
                alone = await emits_per_second(a, events, concurrency)
                a.cluster = cluster
            finally:
                for kernel in kernels:
                    await kernel.close()
    finally:
        server.stop()
    ms = sorted(1000 * x for x in latencies)
    return {"events": events, "concurrency": concurrency,
            "emits_per_s_cluster": round(shared), "emits_per_s_single_server": round(alone),
            "ratio": round(shared / alone, 3),
            "delivery_ms_p50": round(statistics.median(ms), 2), "delivery_ms_p99": round(ms[int(0.99 * (len(ms) - 1))], 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(1000 if args.quick else args.events, args.concurrency))
    print(json.dumps(result, indent=2))
    out = HERE / "results" / "cluster_events.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
