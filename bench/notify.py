"""Notification throughput: N webhook deliveries (default 10,000) to a loopback receiver.

Paperchain: one bulk ``kernel.component("notify.webhook").send(Message(to=N URLs))`` goes
through the durable outbox (SQLite, one row per recipient, status tracked per message) and the
worker delivers them; timed from the call until every row is ``sent``. Peer: plain aiohttp
posting the same JSON bodies with the same concurrency (64), nothing recorded. The receiver is an
aiohttp server in its own process; each side runs in a fresh process of its own, so its peak RSS
(reported as growth over the process's RSS before the part starts) is its own.

    .venv/bin/python bench/notify.py             # 10,000 messages
    .venv/bin/python bench/notify.py --quick     # 1,000 messages

Results: bench/results/notify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _receiver() -> None:
    """Runs in its own process: count posts, print the port, serve until stdin closes."""
    from aiohttp import web

    received = 0

    async def handle(request):
        nonlocal received
        await request.read()
        received += 1
        return web.Response(text="ok")

    async def main():
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(received, flush=True)
        await runner.cleanup()

    asyncio.run(main())


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _peer(urls: list[str], concurrency: int) -> float:
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:
        async def post(i, url):
            body = json.dumps({"id": f"m{i}", "subject": "bench", "body": "hello", "priority": 0, "data": {}}).encode()
            async with limit:
                async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    assert resp.status == 200

        await asyncio.gather(*(post(i, u) for i, u in enumerate(urls)))
    return time.perf_counter() - start


def _ours(urls: list[str]) -> dict:
    import paperchain_notify
    from paperchain.harness import KernelHarness
    from paperchain_sdk import Message

    config = {"components": {"notify.webhook": {"allow_hosts": ["127.0.0.1"], "wait": False}}}
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
        harness = KernelHarness([paperchain_notify], data_dir=Path(tmp), config=config)

        async def run():
            hook = harness.kernel.component("notify.webhook")
            start = time.perf_counter()
            await hook.send(Message(to=tuple(urls), subject="bench", body="hello", idempotency_key="bench"))
            outbox = hook.outbox
            while True:
                state = await outbox.counts()  # every tenant's: the bench's messages belong to none
                if state.get("sent", 0) + state.get("failed", 0) >= len(urls):
                    return time.perf_counter() - start, state
                await asyncio.sleep(0.05)

        try:
            elapsed, state = harness.call(run())
        finally:
            harness.close()
    return {"elapsed": elapsed, "sent": state.get("sent", 0), "failed": state.get("failed", 0)}


def _part(name: str, port: int, count: int) -> None:
    urls = [f"http://127.0.0.1:{port}/r/{i}" for i in range(count)]
    before = _peak_rss_mib()
    if name == "ours":
        result = _ours(urls)
    else:
        from paperchain_notify.outbox import CONCURRENCY

        result = {"elapsed": asyncio.run(_peer(urls, CONCURRENCY)), "sent": count, "failed": 0}
    result["peak_rss_growth_mib"] = _peak_rss_mib() - before
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 messages instead of 10,000")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--part", nargs=2, metavar=("NAME", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        return _receiver()
    count = args.messages or (1000 if args.quick else 10_000)
    if args.part:
        return _part(args.part[0], int(args.part[1]), count)

    receiver = subprocess.Popen([sys.executable, __file__, "--receiver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(receiver.stdout.readline())
    parts = {}
    try:
        for name in ("ours", "peer"):
            out = subprocess.run([sys.executable, __file__, "--part", name, str(port), "--messages", str(count)],
                                 capture_output=True, text=True, check=True).stdout
            parts[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        receiver.stdin.close()
        received = int(receiver.stdout.readline() or 0)
        receiver.wait(timeout=30)

    ours, peer = parts["ours"], parts["peer"]
    rate, peer_rate = count / ours["elapsed"], count / peer["elapsed"]
    result = {
        "messages": count, "sent": ours["sent"], "failed": ours["failed"], "receiver_got": received,
        "paperchain_messages_per_s": round(rate, 1), "aiohttp_messages_per_s": round(peer_rate, 1),
        "ratio_paperchain_over_aiohttp": round(rate / peer_rate, 3),
        "paperchain_peak_rss_growth_mib": round(ours["peak_rss_growth_mib"], 1),
        "aiohttp_peak_rss_growth_mib": round(peer["peak_rss_growth_mib"], 1),
    }
    print(f"{'':36}{'messages/s':>12}{'peak RSS +MiB':>15}")
    print(f"{'paperchain outbox (durable, tracked)':36}{rate:12.1f}{ours['peak_rss_growth_mib']:15.1f}")
    print(f"{'plain aiohttp posts (nothing kept)':36}{peer_rate:12.1f}{peer['peak_rss_growth_mib']:15.1f}")
    print(f"ratio paperchain/aiohttp: {rate / peer_rate:.3f}; sent {ours['sent']}/{count}, receiver got {received}")
    out = HERE / "results" / "notify.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
