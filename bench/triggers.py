"""Webhook trigger throughput: signed requests/s answered 202 with their runs recorded durably,
and the time from a request's arrival to its run starting (p50, p99).

A real kernel (SQLite store in a temp dir) and the webhook route of paperchain-triggers are served
by aiohttp on loopback; a separate client process sends N signed requests (each unique: replays
are refused) with C in flight. The baseline is a bare aiohttp handler on the same server that
checks the same HMAC and parses the same JSON but records nothing and starts nothing: the ratio is
the price of durability plus a run per request.

    .venv/bin/python bench/triggers.py            # 3,000 requests, 32 in flight
    .venv/bin/python bench/triggers.py --quick    # 300 requests

Results: bench/results/triggers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret"
ARRIVED = contextvars.ContextVar("arrived", default=None)


def _client(url: str, count: int, concurrency: int) -> None:
    """Runs in its own process: send ``count`` signed requests, print statuses and elapsed time."""
    import aiohttp

    from paperchain_sdk.signatures import sign

    async def main():
        statuses: dict[int, int] = {}
        queue = list(range(count))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            async def worker():
                while queue:
                    n = queue.pop()
                    body = json.dumps({"n": n, "note": "bench"}).encode()
                    stamp = str(int(time.time()))
                    headers = {"X-Paperchain-Timestamp": stamp, "X-Paperchain-Signature": sign(SECRET, stamp, body),
                               "Content-Type": "application/json"}
                    async with http.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
        print(json.dumps({"elapsed": elapsed, "statuses": statuses}))

    asyncio.run(main())


def _bench_plugin():
    from paperchain_sdk import ActionSpec, hookimpl
    from paperchain_sdk.contracts import Action

    class Noop(Action):
        async def run(self, ctx, inputs):
            return {"n": ctx.inputs.get("n")}

    @hookimpl
    def actions():
        return [ActionSpec(name="bench.noop", impl=Noop)]

    module = types.ModuleType("paperchain_benchnoop")
    module.paperchain_actions = actions
    return module


async def _serve(kernel, latencies: list[float]):
    from aiohttp import web

    import paperchain_triggers
    from paperchain_sdk.web import KERNEL_KEY
    from paperchain_triggers.webhook import active_webhook

    @web.middleware
    async def stamp(request, handler):
        ARRIVED.set(time.perf_counter())  # copied into the run's task by asyncio: read at run.started
        return await handler(request)

    async def baseline(request):
        trigger = active_webhook(kernel, "hooked")
        body = await request.read()
        problem = trigger.verify(request.headers.get("X-Paperchain-Timestamp", ""),
                                 request.headers.get("X-Paperchain-Signature", ""), body, time.time())
        if problem:
            return web.json_response({"error": problem}, status=401)
        json.loads(body)
        return web.json_response({"status": "accepted"}, status=202)

    def on_event(event):
        arrived = ARRIVED.get()
        if event.type == "run.started" and arrived is not None:
            latencies.append(time.perf_counter() - arrived)

    kernel.listeners.append(on_event)
    app = web.Application(middlewares=[stamp], client_max_size=1 << 20)
    app[KERNEL_KEY] = kernel  # what kernel_of(request) reads, as the API server sets it
    app.add_routes(paperchain_triggers.paperchain_routes(kernel))
    app.router.add_post("/baseline/{workflow}", baseline)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def _drive(url: str, count: int, concurrency: int) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", url, str(count), str(concurrency), stdout=subprocess.PIPE)
    out, _ = await process.communicate()
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 requests instead of 3,000")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", nargs=3, metavar=("URL", "N", "C"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return _client(args.client[0], int(args.client[1]), int(args.client[2]))
    count = args.requests or (300 if args.quick else 3000)
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    import paperchain_triggers
    from paperchain.harness import KernelHarness
    from paperchain.trigger_host import TriggerHost

    with tempfile.TemporaryDirectory(prefix="bench-triggers-") as tmp:
        harness = KernelHarness([paperchain_triggers, _bench_plugin()], data_dir=Path(tmp))
        kernel = harness.kernel
        latencies: list[float] = []

        async def scenario():
            await kernel.workflows.save({"name": "hooked", "on": {"webhook": {"secret": SECRET}},
                                         "steps": [{"id": "noop", "uses": "bench.noop"}]})
            host = TriggerHost(kernel)
            await host.start()
            runner, base = await _serve(kernel, latencies)
            try:
                baseline = await _drive(f"{base}/baseline/hooked", count, args.concurrency)
                ours = await _drive(f"{base}/hooks/hooked", count, args.concurrency)
                while kernel._batches:
                    await asyncio.sleep(0.05)
                import sqlalchemy as sa

                from paperchain.store.tables import batches

                recorded = await kernel.sql.scalar(sa.select(sa.func.count()).where(batches.c.source == "trigger:webhook"))
            finally:
                await runner.cleanup()
                await host.stop()
            return baseline, ours, recorded

        try:
            baseline, ours, recorded = harness.call(scenario())
        finally:
            harness.close()

    accepted = ours["statuses"].get("202", 0)
    rate = accepted / ours["elapsed"]
    base_rate = baseline["statuses"].get("202", 0) / baseline["elapsed"]
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    result = {
        "requests": count, "concurrency": args.concurrency, "accepted_202": accepted, "batches_recorded": recorded,
        "paperchain_requests_per_s": round(rate, 1), "baseline_requests_per_s": round(base_rate, 1),
        "ratio_paperchain_over_baseline": round(rate / base_rate, 3),
        "request_to_run_start_ms": {"p50": round(p50, 2), "p99": round(p99, 2), "samples": len(lat)},
        "statuses": ours["statuses"],
    }
    print(f"{'':34}{'requests/s':>12}")
    print(f"{'paperchain webhook (durable, run)':34}{rate:12.1f}")
    print(f"{'baseline aiohttp (verify only)':34}{base_rate:12.1f}")
    print(f"ratio paperchain/baseline: {rate / base_rate:.3f}; accepted {accepted}/{count}, batches recorded {recorded}")
    print(f"request -> run start: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(lat)} runs)")
    out = HERE / "results" / "triggers.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
