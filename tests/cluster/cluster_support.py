"""What the cluster tests share: a test plugin (an action and a trigger that record which server
ran them), a harness whose admin may already exist, a real ``paperchain serve`` process, and polling."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import attrs

from paperchain.harness import ApiHarness
from paperchain_sdk import ActionSpec, TriggerSpec, hookimpl
from paperchain_sdk.contracts import Action, Trigger

# (server data directory, run id, step id) of every step the test action ran, in order.
STEPS: list[tuple[str, str, str]] = []
# (server data directory, workflow, "started" | "stopped") of the test trigger.
TRIGGERS: list[tuple[str, str, str]] = []


@attrs.define
class NapSettings:
    seconds: float = 0.01


class Nap(Action):
    """Sleeps, recording which server ran which step of which run."""

    async def run(self, ctx, inputs):
        STEPS.append((_server_of(ctx), ctx.run_id, ctx.step_id))
        await asyncio.sleep(inputs.seconds)
        return {"slept": inputs.seconds}


def _server_of(ctx) -> str:
    # The step's scratch folder is under its server's data directory: <data dir>/work/<run>/<step>.
    return Path(ctx.work_dir).parents[2].name


class Beacon(Trigger):
    """Records when it starts and stops, and on which server."""

    def attach(self, kernel, workflow):
        self.server, self.workflow = kernel.data_dir.name, workflow

    async def start(self, emit):
        TRIGGERS.append((self.server, self.workflow, "started"))

    async def stop(self):
        TRIGGERS.append((self.server, self.workflow, "stopped"))


class ClusterTestPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.nap", impl=Nap, settings=NapSettings, summary="Sleep a while")]

    @hookimpl
    def paperchain_triggers(self):
        return [TriggerSpec(name="beacon", impl=Beacon, summary="Record where triggers run")]


class Server(ApiHarness):
    """``ApiHarness`` whose admin may already exist (made by another server on the database)."""

    async def user(self, name: str, role: str = "viewer", *, tenant: str = "", password: str | None = None) -> str:
        if name not in self.state.accounts.users:
            return await super().user(name, role, tenant=tenant, password=password)
        password = password or secrets.token_urlsafe(16)
        await self.state.accounts.update_user(name, password=password)
        reply = await self.request("POST", "/api/v1/auth/login", token=None,
                                   json={"username": name, "password": password})
        assert reply.status == 200, reply
        return reply.json["access_token"]


async def eventually(check, timeout: float = 10.0, every: float = 0.05):
    """Poll ``check()`` (sync or async) until it is truthy; its value, or fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        await asyncio.sleep(every)


PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A ``paperchain serve`` process with its own data directory in ``folder`` (its output in
    serve.log there), on ``url``'s database; ``port`` None picks a free one, 0 lets serve pick."""

    def __init__(self, folder, url: str, master_key: str, *, port: int | None = None):
        self.port = free_port() if port is None else port
        self.folder = folder
        folder.mkdir()
        env = {**os.environ, "PAPERCHAIN_DATA_DIR": str(folder / "data"), "PAPERCHAIN_DATABASE_URL": url,
               "PAPERCHAIN_MASTER_KEY": master_key, "PAPERCHAIN_LOAD_PLUGINS": "builtins,triggers",
               "PAPERCHAIN_ADMIN_PASSWORD": PASSWORD}
        env.pop("PAPERCHAIN_CONFIG", None)  # no plugins.toml: the environment says everything
        self.log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "paperchain", "serve", "--port", str(self.port)],
                                        cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return (self.folder / "serve.log").read_text(errors="replace")

    async def ready(self, session) -> None:
        if self.port == 0:  # the port serve bound, from its start-up line
            async def announced() -> bool:
                assert self.process.poll() is None, "serve exited; see serve.log"
                found = re.search(r"Paperchain API on http://127\.0\.0\.1:(\d+)", self.output())
                if found:
                    self.port = int(found.group(1))
                return bool(found)

            await eventually(announced, timeout=60, every=0.2)

        async def up() -> bool:
            assert self.process.poll() is None, "serve exited; see serve.log"
            try:
                async with session.get(self.url + "/health") as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(up, timeout=60, every=0.2)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Gate:
    """A TCP relay to a database on loopback that a test can shut: ``shut()`` drops every relayed
    connection and then holds each new one open without a word, as an unreachable host does (a
    client waits for its own timeout, not for a refusal)."""

    def __init__(self, target_port: int):
        self.target_port, self.port = target_port, 0
        self.shut_down = False
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> Gate:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, database_url: str) -> str:
        return database_url.replace(f":{self.target_port}/", f":{self.port}/")

    async def _relay(self, reader, writer) -> None:
        self._writers.append(writer)
        if self.shut_down:
            return  # held open, unanswered
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.append(up_writer)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    def shut(self) -> None:
        self.shut_down = True
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.shut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader, writer) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
