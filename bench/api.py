"""API benchmarks: request rate against a bare aiohttp handler, upload memory, live-event fan-out.

    .venv/bin/python bench/api.py            # all three (~2 min)
    .venv/bin/python bench/api.py --only rps --duration 10

1. rps: authenticated ``GET /api/v1/documents/{id}`` (auth, rate limit, metrics, audit check,
   database read) against a bare aiohttp handler returning the same JSON. Each server runs alone
   on core 0 (taskset), wrk loads it from core 1. Goal: at least 70 % of the bare handler.
2. upload: a 200 MB streamed upload; the server's peak RSS growth (VmHWM) must stay under 50 MB.
3. live: 200 WebSocket subscribers to one busy run; every event must reach every subscriber, and
   the p99 delay (event time stamped by the server to receipt) must be under 100 ms.

Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench-password-123"

BARE_SERVER = r'''
import sys
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def handler(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/documents/{id}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(command: list[str], core: int) -> list[str]:
    return (["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() > 1 else []) + command


class Server:
    """``paperchain serve`` in a scratch folder, with an admin from the environment."""

    def __init__(self, work: Path, *, workflows: dict[str, str] | None = None, core: int | None = 0):
        self.work, self.port = work, free_port()
        (work / "workflows").mkdir(parents=True, exist_ok=True)
        for name, text in (workflows or {}).items():
            (work / "workflows" / f"{name}.toml").write_text(text)
        (work / "plugins.toml").write_text(
            '[paperchain]\ndata_dir = "data"\nworkflows_dir = "workflows"\n'
            "[api]\nrate = 1000000.0\nburst = 1000000\nip_rate = 1000000.0\nip_burst = 1000000\n"
            "max_upload = 1000000000\nsubscriber_queue = 100000\n"
        )
        env = {**os.environ, "PAPERCHAIN_ADMIN_PASSWORD": PASSWORD, "PAPERCHAIN_CONFIG": str(work / "plugins.toml")}
        command = [str(VENV_BIN / "paperchain"), "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(pinned(command, core) if core is not None else command, cwd=work, env=env,
                                        stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "wb"))
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, session) -> str:
        for _ in range(300):
            try:
                async with session.post(f"{self.url}/api/v1/auth/login",
                                        json={"username": "admin", "password": PASSWORD}) as r:
                    if r.status == 200:
                        return (await r.json())["access_token"]
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("the server did not start: " + (self.work / "server.log").read_text()[-2000:])

    def rss(self, field: str) -> int:
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wrk(url: str, headers: dict, duration: int, connections: int = 64) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(pinned(command + [url], 1), capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed requests during the load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


async def bench_rps(work: Path, duration: int, rounds: int = 3) -> dict:
    """Both servers stay up; wrk loads them in turn ``rounds`` times, so a slow spell of the
    machine hits both. The ratio reported is the median of the rounds' ratios."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    server = Server(work / "rps")
    bare = None
    try:
        async with aiohttp.ClientSession() as session:
            token = await server.ready(session)
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{server.url}/api/v1/keys", json={"name": "bench"}, headers=headers) as r:
                key = (await r.json())["key"]
            async with session.post(f"{server.url}/api/v1/documents?name=a.txt", data=b"a document for the benchmark",
                                    headers=headers) as r:
                doc = await r.json()
            async with session.get(f"{server.url}/api/v1/documents/{doc['id']}", headers={"X-API-Key": key}) as r:
                body = await r.read()
        body_file = work / "body.json"
        body_file.write_bytes(body)
        port = free_port()
        bare = subprocess.Popen(pinned([sys.executable, "-c", BARE_SERVER, str(port), str(body_file)], 0))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        ours, peer = [], []
        for _ in range(rounds):
            ours.append(wrk(f"{server.url}/api/v1/documents/{doc['id']}", {"X-API-Key": key}, duration))
            peer.append(wrk(f"http://127.0.0.1:{port}/api/v1/documents/{doc['id']}", {}, duration))
    finally:
        server.stop()
        if bare is not None:
            bare.terminate()
            bare.wait()
    ratios = sorted(o / p for o, p in zip(ours, peer))
    return {"paperchain_rps": ours, "bare_aiohttp_rps": peer, "ratios": [round(r, 3) for r in ratios],
            "ratio": ratios[len(ratios) // 2], "goal": 0.7}


async def bench_upload(work: Path, megabytes: int) -> dict:
    server = Server(work / "upload", core=None)
    try:
        async with aiohttp.ClientSession() as session:
            token = await server.ready(session)
            # A small upload first, so one-time costs (lazy imports, caches) are not counted.
            async with session.post(f"{server.url}/api/v1/documents?name=warm.bin", data=os.urandom(1 << 20),
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/octet-stream"}) as r:
                assert r.status == 201, await r.text()
            await asyncio.sleep(1)
            before = server.rss("VmHWM")
            chunk = os.urandom(1024 * 1024)

            async def body():
                for _ in range(megabytes):
                    yield chunk

            started = time.perf_counter()
            async with session.post(f"{server.url}/api/v1/documents?name=big.bin", data=body(),
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/octet-stream"}) as r:
                status = r.status
                detail = await r.text()
            seconds = time.perf_counter() - started
            peak = server.rss("VmHWM")
    finally:
        server.stop()
    if status != 201:
        raise RuntimeError(f"upload failed: {status} {detail}")
    growth = (peak - before) / 2**20
    return {"megabytes": megabytes, "seconds": round(seconds, 2), "rss_before_mb": round(before / 2**20, 1),
            "peak_growth_mb": round(growth, 1), "goal_mb": 50}


BUSY = """name = "busy"
[[steps]]
id = "s0"
uses = "document.text"
""" + "".join(f'[[steps]]\nid = "s{i}"\nuses = "document.text"\nneeds = ["s{i - 1}"]\n' for i in range(1, 60))


async def bench_live(work: Path, subscribers: int) -> dict:
    server = Server(work / "live", workflows={"busy": BUSY}, core=0)
    if hasattr(os, "sched_setaffinity") and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the 200 clients on the other core
    delays: list[float] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            token = await server.ready(session)
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{server.url}/api/v1/documents?name=a.txt", data=b"busy run text",
                                    headers=headers) as r:
                doc = (await r.json())["id"]
            sockets = [await session.ws_connect(server.url.replace("http", "ws") + "/api/v1/events", headers=headers)
                       for _ in range(subscribers)]
            for ws in sockets:
                await ws.send_json({"type": "subscribe", "topics": ["workflow:busy"]})
            for ws in sockets:
                await ws.receive()
            async with session.post(f"{server.url}/api/v1/runs", json={"workflow": "busy", "documents": [doc]},
                                    headers=headers) as r:
                run_id = (await r.json())["runs"][0]

            async def listen(ws) -> int:
                count = 0
                while True:
                    message = json.loads((await ws.receive()).data)
                    if "specversion" not in message:
                        continue
                    sent = datetime.fromisoformat(message["time"]).timestamp()
                    delays.append(time.time() - sent)
                    count += 1
                    if message["type"] == "io.paperchain.run.succeeded" and message["subject"] == run_id:
                        return count

            counts = await asyncio.wait_for(asyncio.gather(*(listen(ws) for ws in sockets)), 120)
            for ws in sockets:
                await ws.close()
    finally:
        server.stop()
    delays.sort()
    # run.started, 60 x (step.started, step.succeeded), run.succeeded, plus the batch's own events
    return {"subscribers": subscribers, "events_each": counts[0],
            "all_delivered": len(set(counts)) == 1 and counts[0] >= 2 + 2 * 60,
            "p50_ms": round(delays[len(delays) // 2] * 1000, 2), "p99_ms": round(delays[int(len(delays) * 0.99)] * 1000, 2),
            "max_ms": round(delays[-1] * 1000, 2), "goal_p99_ms": 100}


async def main(args) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="paperchain-bench-api-") as tmp:
        work = Path(tmp)
        if args.only in (None, "rps"):
            results["rps"] = await bench_rps(work, args.duration)
            print("rps   ", results["rps"], flush=True)
        if args.only in (None, "upload"):
            results["upload"] = await bench_upload(work, args.megabytes)
            print("upload", results["upload"], flush=True)
        if args.only in (None, "live"):
            results["live"] = await bench_live(work, args.subscribers)
            print("live  ", results["live"], flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["rps", "upload", "live"])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per server and round")
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=200)
    results = asyncio.run(main(parser.parse_args()))
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api.json").write_text(json.dumps(results, indent=2))
