"""Analytics benchmark: the analytics API and page against the home page and the runs JSON list,
on the same data, in the same run.

    .venv/bin/python bench/analytics.py              # 100,000 documents, runs and steps
    .venv/bin/python bench/analytics.py -n 20000 --requests 10

Fills a fresh database as bench/ui.py does (rows written straight into SQLite), moves every
document and run into the last 60 days, gives each run a timed step of one of six components,
gives a third of the documents the text analyzers' findings (language, keywords, entities,
near-duplicates) and writes three events per document to the log; then times, alternating,
``/api/v1/analytics`` and ``/analytics`` for 30 and 365 days, ``/`` and ``/api/v1/runs?limit=50``
with a logged-in client on loopback, as the operator (the whole deployment: the largest scope)
and as a tenant holding a tenth of it; then each analytics 30 days again right after a document
upload, when the kept figures were just dropped ("cold"). Reports p50 and p95 in milliseconds;
writes bench/results/analytics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui import PASSWORD, REPO, fill, summary, timed  # noqa: E402

WORDS = "invoice council bridge survey deed parish river mill contract receipt minutes letter".split()
DAY = 86_400


def recent(db_path: Path, n: int) -> None:
    """Everything within the last 60 days; steps, findings and events for the analytics to read."""
    rng = random.Random(16)
    now = datetime.now(UTC)
    db = sqlite3.connect(db_path)
    with db:
        moments = [(now - timedelta(seconds=rng.randrange(60 * DAY))).isoformat() for _ in range(n)]
        db.executemany("UPDATE runs SET created = ?, started = ?, finished = ? WHERE id = ?",
                       ((m, m, m, f"r{i:08d}") for i, m in enumerate(moments)))
        db.executemany("UPDATE documents SET created = ? WHERE id = ?", ((m, f"{i:064x}") for i, m in enumerate(moments)))
        db.execute("UPDATE batches SET tenant = 'acme' WHERE rowid % 10 = 0")  # a tenant with a tenth of the runs
        db.execute("UPDATE documents SET tenant = 'acme' WHERE rowid % 10 = 0")
        db.executemany(
            "INSERT INTO steps (run_id, step_id, uses, status, attempts, started, finished) VALUES (?, 'a', ?, ?, 1, ?, ?)",
            ((f"r{i:08d}", f"component-{i % 6}", "succeeded" if i % 9 else "failed", m,
              (datetime.fromisoformat(m) + timedelta(seconds=rng.uniform(0.05, 5))).isoformat())
             for i, m in enumerate(moments)))
        findings = []
        for i in range(0, n, 3):
            keywords = [{"keyword": w, "score": 0.1} for w in rng.sample(WORDS, 5)]
            entities = {"emails": [{"text": f"clerk{rng.randrange(40)}@parish.example"}], "counts": {"emails": 1}}
            duplicates = [{"document_id": f"{i + 1:064x}", "jaccard": 0.9}] if rng.random() < 0.05 else []
            for analyzer, data in (("text.language", {"language": rng.choice(("en", "es", "fr"))}),
                                   ("text.keywords", {"keywords": keywords}), ("text.entities", entities),
                                   ("text.near_duplicates", {"duplicates": duplicates})):
                findings.append((f"{i:064x}", analyzer, json.dumps(data), moments[i]))
        db.executemany("INSERT INTO findings (document_id, analyzer, run_id, step_id, data, summary, created) "
                       "VALUES (?, ?, 'r', 's', ?, '', ?)", findings)
        ordered = sorted(range(n), key=lambda i: moments[i])
        db.executemany("INSERT INTO events (seq, type, subject, time, data) VALUES (?, ?, ?, ?, '{}')",
                       ((3 * k + j + 1, kind, f"{i:064x}" if j == 0 else f"r{i:08d}", moments[i])
                        for k, i in enumerate(ordered)
                        for j, kind in enumerate(("document.ingested", "run.started", "run.succeeded"))))
    db.close()


PAGES = [  # (name, path, as JSON)
    ("analytics API 30 days", "/api/v1/analytics", True),
    ("analytics page 30 days", "/analytics", False),
    ("analytics API 365 days", "/api/v1/analytics?days=365", True),
    ("analytics page 365 days", "/analytics?days=365", False),
    ("peer: home page", "/", False),
    ("peer: runs JSON list", "/api/v1/runs?limit=50", True),
]
COLD = [  # the first request after a change: a document uploaded just before drops the kept figures
    ("analytics API 30 days, cold", "/api/v1/analytics", True),
    ("analytics page 30 days, cold", "/analytics", False),
]


async def cold(api, client, path: str, headers: dict | None, k: int) -> float:
    reply = await api.request("POST", f"/api/v1/documents?name=cold-{k}.txt", data=f"cold sample {k}".encode(),
                              token=True)
    assert reply.status == 201, reply
    return await timed(client, api.url + path, headers)


async def main(args) -> dict:
    from api_support import TestPlugin

    from paperchain.harness import ApiHarness
    from paperchain.store.schema import migrate

    with tempfile.TemporaryDirectory(prefix="pc-bench-analytics-") as work:
        began = time.perf_counter()
        db_path = Path(work) / "paperchain.db"
        migrate(db_path)
        fill(db_path, args.n)
        recent(db_path, args.n)
        print(f"filled {args.n:,} documents, runs and steps in {time.perf_counter() - began:.1f} s", flush=True)
        api = await ApiHarness([TestPlugin()], data_dir=Path(work), triggers=False).start()
        results = {"n": args.n, "requests": args.requests, "callers": {}}
        uploads = 0
        try:
            for caller, tenant in (("operator", ""), ("tenant with a tenth", "acme")):
                name = f"bench-{tenant or 'operator'}"
                await api.state.accounts.create_user(name, PASSWORD, "viewer", tenant)
                token = (await api.request("POST", "/api/v1/auth/login", token=None,
                                           json={"username": name, "password": PASSWORD})).json["access_token"]
                jar = aiohttp.CookieJar(unsafe=True)
                async with aiohttp.ClientSession(cookie_jar=jar, headers={"Accept": "text/html"}) as client:
                    async with client.post(api.url + "/login", data={"username": name, "password": PASSWORD},
                                           headers={"Origin": api.url}, allow_redirects=False) as r:
                        assert r.status == 303, await r.text()
                    bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                    samples: dict[str, list[float]] = {page: [] for page, _, _ in PAGES + COLD}
                    for _ in range(2):  # warm the page cache and the query planner
                        for _, path, plain in PAGES:
                            await timed(client, api.url + path, bearer if plain else None)
                    for _ in range(args.requests):  # alternating, so a slow moment hits every page alike
                        for page, path, plain in PAGES:
                            samples[page].append(await timed(client, api.url + path, bearer if plain else None))
                    for _ in range(args.requests):  # apart from the kept ones above: an upload drops them all
                        for page, path, plain in COLD:
                            uploads += 1
                            samples[page].append(await cold(api, client, path, bearer if plain else None, uploads))
                rows = {page: summary(values) for page, values in samples.items()}
                results["callers"][caller] = rows
                for page, row in rows.items():
                    print(f"{caller:20} {page:26} p50 {row['p50']:8.1f} ms  p95 {row['p95']:8.1f} ms", flush=True)
        finally:
            await api.close()
        return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="documents, runs and steps to fill (default 100,000)")
    parser.add_argument("--requests", type=int, default=10, help="timed requests per page and caller (default 10)")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "analytics.json").write_text(json.dumps(results, indent=2))
