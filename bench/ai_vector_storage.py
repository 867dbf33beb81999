"""Why the AI plugin stores vectors as float32 bytes on PostgreSQL, not as a real[] array column.

Search ranks in process over a per-tenant float32 matrix (plugins/ai/paperchain_ai/matrix.py), so
what counts is how fast a tenant's vectors load into that matrix. This loads the same random
vectors from a BYTEA and from a real[] column of a throwaway PostgreSQL server (the SDK's test
cluster, on loopback) through asyncpg, best of three, and prints both and their ratio.

    .venv/bin/python bench/ai_vector_storage.py [--rows 20000] [--dim 384]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import numpy as np

from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir


async def load_times(url: str, rows: int, dim: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE as_bytes (id int, v bytea); CREATE TABLE as_array (id int, v real[])")
        vectors = np.random.default_rng(1).standard_normal((rows, dim)).astype("<f4")
        await conn.copy_records_to_table("as_bytes", records=[(i, vectors[i].tobytes()) for i in range(rows)])
        await conn.copy_records_to_table("as_array", records=[(i, vectors[i].tolist()) for i in range(rows)])
        readers = {
            "bytea": ("SELECT v FROM as_bytes ORDER BY id",
                      lambda got: np.frombuffer(b"".join(r[0] for r in got), "<f4").reshape(rows, dim)),
            "real[]": ("SELECT v FROM as_array ORDER BY id", lambda got: np.asarray([r[0] for r in got], dtype="<f4")),
        }
        times = {}
        for name, (query, to_matrix) in readers.items():
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                matrix = to_matrix(await conn.fetch(query))
                best = min(best, time.perf_counter() - start)
            assert np.array_equal(matrix, vectors), name
            times[name] = best
        return times
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    cluster = PostgresCluster(find_bin_dir()).start()
    try:
        url = cluster.create_database().replace("postgresql+asyncpg://", "postgresql://")
        times = asyncio.run(load_times(url, args.rows, args.dim))
    finally:
        cluster.stop()
    for name, seconds in times.items():
        print(f"{name:7s} {args.rows} x {args.dim} float32 vectors into a matrix: {seconds * 1000:8.0f} ms")
    print(f"real[] / bytea: {times['real[]'] / times['bytea']:.1f}x slower")


if __name__ == "__main__":
    main()
