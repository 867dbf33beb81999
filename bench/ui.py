"""Web UI benchmark: list pages against the JSON API's lists for the same data, at scale.

    .venv/bin/python bench/ui.py                 # 100,000 documents and 100,000 runs (~2 min)
    .venv/bin/python bench/ui.py -n 10000 --requests 30
    .venv/bin/python bench/ui.py --churn 20          # while 20 runs a second start and finish
    .venv/bin/python bench/ui.py --ingest 20         # while 20 documents a second are ingested

Fills a fresh database (rows written straight into SQLite: the pages read rows, however they
were made), then times each page and its JSON counterpart with a logged-in client on loopback,
alternating the two, and reports p50 and p95 in milliseconds and the HTML/JSON ratio of the
p50s. Goals (issue 14): every list page well under 150 ms; an HTML page at most 2x the JSON
list of the same data. Times include the loopback client's own share, alike for both.
The pages keep whole-table figures (state counts, media types, home's widgets) until a run or
document event; without churn this bench sends none, so it times them kept. ``--cold`` drops them
before each request. ``--churn RATE`` times the pages while the engine starts RATE runs a second
(one step each, finishing at once), as a busy deployment does: every run, step and batch event
drops the runs' kept figures, so the pages count afresh on almost every request. ``--ingest RATE``
does the same for documents: RATE small files a second go through the kernel's ingest (half of
them the tenant's), each ``document.ingested`` dropping the documents' kept figures.
A quarter of the batches and documents belong to the tenant ``acme``; the pages marked "tenant"
are timed as its user (a tenant's lists check the tenant per row or per batch).
Writes bench/results/ui.json (ui-cold.json with --cold, ui-churn.json with --churn, ui-ingest.json
with --ingest).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
PASSWORD = "bench-password-123"
WORDS = ("invoice council bridge survey deed parish river mill contract receipt minutes letter permit "
         "boundary lease tithe school road harbour census").split()
STATES = ("succeeded",) * 8 + ("failed", "cancelled", "running", "queued")
TENANT = "acme"


def _tenant(i: int) -> str | None:
    return TENANT if i % 4 == 0 else None


def fill(db_path: Path, n: int) -> None:
    """``n`` documents (with text for search) and ``n`` runs in ``n // 100`` batches."""
    rng = random.Random(14)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db = sqlite3.connect(db_path)
    with db:
        db.executemany(
            "INSERT INTO documents (id, name, media_type, size, created, text, metadata, tags, tenant) "
            "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
            ((f"{i:064x}", f"record-{i}.pdf", rng.choice(("application/pdf", "image/png", "text/plain")),
              rng.randint(10_000, 5_000_000), (start + timedelta(seconds=30 * i)).isoformat(),
              " ".join(rng.choices(WORDS, k=40)), json.dumps(rng.sample(WORDS[:5], 1)), _tenant(i))
             for i in range(n)))
        batches = max(1, n // 100)
        db.executemany(
            "INSERT INTO batches (id, workflow, workflow_hash, status, created, total, tenant) "
            "VALUES (?, ?, 'h', 'done', ?, 100, ?)",
            ((f"b{i:08d}", f"flow-{i % 5}", (start + timedelta(hours=i)).isoformat(), _tenant(i) or "")
             for i in range(batches)))
        db.executemany(
            "INSERT INTO runs (id, batch_id, seq, kind, workflow, workflow_hash, document_id, source, status, "
            "created, started, finished, error) VALUES (?, ?, ?, 'document', ?, 'h', ?, 'bench', ?, ?, ?, ?, ?)",
            ((f"r{i:08d}", f"b{i // 100:08d}", i % 100, f"flow-{(i // 100) % 5}", f"{i:064x}", status,
              (start + timedelta(seconds=30 * i)).isoformat(), (start + timedelta(seconds=30 * i + 1)).isoformat(),
              (start + timedelta(seconds=30 * i + 5)).isoformat(), "it broke" if status == "failed" else None)
             for i, status in ((i, rng.choice(STATES)) for i in range(n))))
    db.close()


PAIRS = [  # (name, HTML page, JSON list of the same rows); "tenant" pages as the tenant's user
    ("runs", "/runs", "/api/v1/runs?limit=50"),
    ("runs tenant", "/runs", "/api/v1/runs?limit=50"),
    ("runs tenant failed", "/runs?status=failed", "/api/v1/runs?status=failed&limit=50"),
    ("runs failed", "/runs?status=failed", "/api/v1/runs?status=failed&limit=50"),
    ("runs workflow", "/runs?workflow=flow-3", "/api/v1/runs?workflow=flow-3&limit=50"),
    ("documents", "/documents", "/api/v1/documents?limit=48"),
    ("documents tag", "/documents?tag=invoice", "/api/v1/documents?tag=invoice&limit=48"),
    ("documents tenant", "/documents", "/api/v1/documents?limit=48"),
    ("search", "/documents?q=bridge+harbour", "/api/v1/documents/search?q=bridge+harbour&limit=48"),
    ("home", "/", None),
    ("home tenant", "/", None),
]


async def timed(session, url: str, headers: dict | None = None) -> float:
    began = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        await response.read()
        assert response.status == 200, (url, response.status)
    return (time.perf_counter() - began) * 1000


async def churn(api, rate: float) -> dict:
    """Start ``rate`` runs a second until cancelled; return how many finished and how fast."""
    kernel = api.state.kernel
    reply = await api.request("POST", "/api/v1/workflows", json={
        "name": "churn", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    assert reply.status in (200, 201), reply.json
    finished, began = [0], time.perf_counter()
    kernel.engine.listeners.append(lambda run: finished.__setitem__(0, finished[0] + 1))
    try:
        while True:
            await kernel.submit("churn", source="bench")
            await asyncio.sleep(1 / rate)
    except asyncio.CancelledError:
        return {"finished": finished[0], "per_second": finished[0] / (time.perf_counter() - began)}


async def ingest(kernel, rate: float, folder: Path) -> dict:
    """Ingest ``rate`` small text files a second (every other one the tenant's) until cancelled."""
    done, began = 0, time.perf_counter()
    try:
        while True:
            path = folder / f"ingested-{done}.txt"
            path.write_text(f"ingested while timing {done} {random.choice(WORDS)}")
            await kernel.documents.ingest(path, tenant=TENANT if done % 2 else "")
            done += 1
            await asyncio.sleep(1 / rate)
    except asyncio.CancelledError:
        return {"ingested": done, "per_second": done / (time.perf_counter() - began)}


async def login(url: str, name: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept": "text/html"})
    async with session.post(url + "/login", data={"username": name, "password": PASSWORD},
                            headers={"Origin": url}, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    return session


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}


async def main(args) -> dict:
    from api_support import TestPlugin

    from paperchain.harness import ApiHarness
    from paperchain.store.schema import migrate
    from paperchain.web.guard import WEB

    with tempfile.TemporaryDirectory(prefix="pc-bench-ui-") as work:
        began = time.perf_counter()
        migrate(Path(work) / "paperchain.db")  # filled before the server opens it (it keeps a writer busy)
        fill(Path(work) / "paperchain.db", args.n)
        print(f"filled {args.n:,} documents and {args.n:,} runs in {time.perf_counter() - began:.1f} s", flush=True)
        api = await ApiHarness([TestPlugin()], data_dir=Path(work), triggers=False).start()
        try:
            await api.state.accounts.create_user("bench", PASSWORD, "admin")
            tenant_token = await api.user("bench-acme", "viewer", tenant=TENANT, password=PASSWORD)
            browsers = {"": await login(api.url, "bench"), TENANT: await login(api.url, "bench-acme")}
            bearers = {who: {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                       for who, token in (("", api.token), (TENANT, tenant_token))}
            try:
                results = {"n": args.n, "requests": args.requests, "cold": args.cold, "churn": args.churn,
                           "ingest": args.ingest, "pages": {}}
                web_state = api.app[WEB]
                churning = asyncio.create_task(churn(api, args.churn)) if args.churn else None
                ingesting = (asyncio.create_task(ingest(api.state.kernel, args.ingest, Path(work)))
                             if args.ingest else None)
                for name, page, listing in PAIRS:
                    who = TENANT if "tenant" in name else ""
                    browser, bearer = browsers[who], bearers[who]
                    html, plain = [], []
                    for _ in range(3):  # warm caches and the query planner
                        await timed(browser, api.url + page)
                    for _ in range(args.requests):
                        if args.cold:
                            web_state.runs.entries.clear()
                            web_state.documents.entries.clear()
                        html.append(await timed(browser, api.url + page))
                        if listing:
                            plain.append(await timed(browser, api.url + listing, bearer))
                    row = {"html": summary(html)}
                    if listing:
                        row["json"] = summary(plain)
                        row["ratio_p50"] = round(row["html"]["p50"] / row["json"]["p50"], 2)
                    results["pages"][name] = row
                    print(f"{name:18} HTML p50 {row['html']['p50']:7.2f} ms  p95 {row['html']['p95']:7.2f} ms"
                          + (f"   JSON p50 {row['json']['p50']:7.2f} ms  p95 {row['json']['p95']:7.2f} ms"
                             f"   ratio {row['ratio_p50']:.2f}" if listing else ""), flush=True)
                if churning:
                    churning.cancel()
                    results["churned"] = await churning
                    print(f"churn: {results['churned']['finished']:,} runs finished while timing "
                          f"({results['churned']['per_second']:.1f}/s)", flush=True)
                if ingesting:
                    ingesting.cancel()
                    results["ingested"] = await ingesting
                    print(f"ingest: {results['ingested']['ingested']:,} documents ingested while timing "
                          f"({results['ingested']['per_second']:.1f}/s)", flush=True)
            finally:
                for browser in browsers.values():
                    await browser.close()
            return results
        finally:
            await api.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="documents and runs to fill (default 100,000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument("--cold", action="store_true", help="drop the pages' kept figures before each request")
    parser.add_argument("--churn", type=float, default=0, metavar="RATE",
                        help="start RATE runs a second (each finishing at once) while timing")
    parser.add_argument("--ingest", type=float, default=0, metavar="RATE",
                        help="ingest RATE small documents a second while timing")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = ("ui-churn.json" if arguments.churn else "ui-ingest.json" if arguments.ingest
            else "ui-cold.json" if arguments.cold else "ui.json")
    (out / name).write_text(json.dumps(results, indent=2))
