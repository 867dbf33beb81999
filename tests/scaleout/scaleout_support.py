"""What the multi-process scale-out test needs: real ``paperchain serve`` and ``paperchain worker``
processes (each its own data directory and process group), a loopback HTTP receiver that counts
side effects by idempotency key, a WebSocket client that resumes with ``since``, and a sampler that
records every state of ``step_attempts`` it sees."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from cluster.cluster_support import eventually

from paperchain.store.tables import members, step_attempts


class Sql:
    """The test's own reads of the shared PostgreSQL database (an async engine of its own)."""

    def __init__(self, url: str):
        from sqlalchemy.ext.asyncio import create_async_engine

        self.engine = create_async_engine(url, pool_size=2)

    async def read(self, statement) -> list:
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement)).all())

    async def scalar(self, statement):
        async with self.engine.connect() as conn:
            return (await conn.execute(statement)).scalar()

    async def close(self) -> None:
        await self.engine.dispose()


class Process:
    """A ``paperchain`` command in a process group of its own (so a kill reaches its children), with
    its data directory and log under ``folder``."""

    def __init__(self, folder: Path, argv: list[str], env: dict[str, str]):
        self.folder, self.argv = folder, argv
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "PAPERCHAIN_DATA_DIR": str(folder / "data")}
        self.log_path = folder / "output.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "paperchain", *self.argv], cwd=self.folder,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a machine that loses power: no clean-up of any kind."""
        self.signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; the whole process group either way."""
        if self.alive():
            self.signal(signal.SIGTERM, wait=20)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # any child left behind

    def signal(self, sig: int, wait: float = 30) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Serve(Process):
    def __init__(self, folder: Path, env: dict[str, str], port: int):
        super().__init__(folder, ["serve", "--port", str(port)], env)
        self.url = f"http://127.0.0.1:{port}"

    async def ready(self, session: aiohttp.ClientSession) -> None:
        async def answers() -> bool:
            assert self.alive(), f"serve exited:\n{self.output()[-3000:]}"
            try:
                async with session.get(self.url + "/ready") as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(answers, timeout=90, every=0.2)


class Worker(Process):
    def __init__(self, folder: Path, env: dict[str, str], *, concurrency: int, lease: float):
        super().__init__(folder, ["worker", "--concurrency", str(concurrency), "--lease", str(lease)], env)

    async def joined(self, sql) -> None:
        """Once its row is in ``members`` (it registers after its kernel opened, just before consuming)."""
        async def registered() -> bool:
            assert self.alive(), f"worker exited:\n{self.output()[-3000:]}"
            return bool(await sql.scalar(sa.select(sa.func.count()).select_from(members).where(
                members.c.kind == "worker", members.c.pid == self.pid, members.c.stopped.is_(None))))

        await eventually(registered, timeout=90, every=0.2)


class Receiver:
    """A loopback webhook endpoint: every POST counted by its Idempotency-Key header."""

    def __init__(self):
        self.deliveries: collections.Counter[str] = collections.Counter()
        self.unkeyed = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def _hook(self, request: web.Request) -> web.Response:
        await request.read()
        key = request.headers.get("Idempotency-Key")
        if key:
            self.deliveries[key] += 1
        else:
            self.unkeyed += 1
        return web.json_response({"received": True})

    @property
    def raw(self) -> int:
        return sum(self.deliveries.values())

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class LiveClient:
    """A WebSocket subscriber to ``runs`` that reconnects with ``since`` (the last sequence it saw)
    whenever it is closed or dropped; it keeps every CloudEvent once, by sequence."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str):
        self.session, self.url, self.token = session, base_url.replace("http", "ws", 1) + "/api/v1/events", token
        self.last: int | None = None
        self.events: list[dict] = []
        self.repeats = 0
        self.first: int | None = None  # the sequence current when it first subscribed
        self.connections = 0
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> LiveClient:
        self._task = asyncio.create_task(self._follow())
        return self

    def succeeded_runs(self) -> set[str]:
        return {e["subject"] for e in self.events if e["type"] == "io.paperchain.run.succeeded"}

    async def _follow(self) -> None:
        while True:
            try:
                await self._session_once()
            except (aiohttp.ClientError, OSError, ValueError):
                pass
            await asyncio.sleep(0.2)

    async def _session_once(self) -> None:
        async with self.session.ws_connect(self.url, headers={"Authorization": f"Bearer {self.token}"}) as ws:
            subscribe: dict = {"type": "subscribe", "topics": ["runs"]}
            if self.last is not None:
                subscribe["since"] = self.last
            await ws.send_json(subscribe)
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                if data.get("type") == "subscribed":
                    self.connections += 1
                    if self.last is None:
                        self.first = self.last = data["seq"]  # everything after it comes live, or by since
                    self.subscribed.set()
                elif data.get("specversion") == "1.0":
                    seq = int(data["sequence"])
                    if self.last is not None and seq <= self.last:
                        self.repeats += 1
                        continue
                    self.last = seq
                    self.events.append(data)

    async def replay(self, run_ids: set[str], timeout: float = 30) -> dict[str, dict]:
        """A new connection with ``since`` = this client's first sequence: the run.succeeded events of
        ``run_ids`` it replays (by run id), once it has them all or ``timeout`` passed."""
        found: dict[str, dict] = {}
        async with self.session.ws_connect(self.url, headers={"Authorization": f"Bearer {self.token}"}) as ws:
            await ws.send_json({"type": "subscribe", "topics": ["runs"], "since": self.first})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        data = json.loads(message.data)
                        if data.get("type") == "io.paperchain.run.succeeded" and data["subject"] in run_ids:
                            found[data["subject"]] = data
                            if len(found) == len(run_ids):
                                break
        return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class AttemptSampler:
    """Reads ``step_attempts`` every ``every`` seconds and keeps each attempt's observed history of
    (state, fence, worker, finished), so a test can check fences only grow and a result, once
    written, never changes."""

    def __init__(self, sql, every: float = 0.25):
        self.sql, self.every = sql, every
        self.history: dict[str, list[tuple]] = collections.defaultdict(list)
        self._task: asyncio.Task | None = None

    def start(self) -> AttemptSampler:
        self._task = asyncio.create_task(self._sample_forever())
        return self

    async def sample(self) -> list:
        rows = await self.sql.read(sa.select(step_attempts.c.id, step_attempts.c.state, step_attempts.c.fence,
                                             step_attempts.c.worker, step_attempts.c.finished,
                                             step_attempts.c.result))
        for row in rows:
            seen = (row.state, row.fence, row.worker, row.finished, row.result)
            if not self.history[row.id] or self.history[row.id][-1] != seen:
                self.history[row.id].append(seen)
        return rows

    async def _sample_forever(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a failed read is retried at the next tick
                await self.sample()
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
