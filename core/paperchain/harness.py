"""A synchronous kernel for tests (the SDK's ``paperchain_kernel`` fixture builds one).

It holds only the plugins it is given, keeps its data in a folder of the test's, and runs
workflows to completion on its own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import Config, KernelSettings
from .documents import expand_paths
from .kernel import Kernel
from .outcomes import BatchOutcome, load_batch


def _settings(config: dict, database_url: str) -> KernelSettings:
    """The ``[paperchain]`` table of a test's config; ``database_url`` unless the table names one."""
    table = dict(config.pop("paperchain", {}))
    if database_url and not table.get("database_url"):
        table["database_url"] = database_url
    return KernelSettings(**table)


class KernelHarness:
    """``database_url``: where the kernel's tables live ("" or absent: the data directory's SQLite file)."""

    def __init__(self, plugins: Iterable[Any], *, data_dir: Path, config: dict | None = None, builtins: bool = True,
                 database_url: str = ""):
        config = dict(config or {})
        settings = _settings(config, database_url)
        components = config.pop("components", {})
        if config:
            raise ValueError(f"unknown config tables {sorted(config)}: use 'paperchain' and 'components'")
        self.config = Config(source="the test's config", data_dir=Path(data_dir), kernel=settings, components=components)
        self.kernel = Kernel(self.config, plugins=plugins, builtins=builtins)
        self._runner = asyncio.Runner()
        self._closed = False
        self._runner.run(self.kernel.open())

    @property
    def registry(self):
        return self.kernel.registry

    @property
    def plugins(self):
        return self.kernel.plugins

    def call(self, coroutine):
        """Run any kernel coroutine on the harness's loop."""
        return self._runner.run(coroutine)

    def run(self, workflow, files=(), inputs: dict | None = None) -> BatchOutcome:
        """Validate ``workflow`` (dict, TOML text or path), run it over ``files`` (or once with ``inputs``)."""
        return self._runner.run(self._run(workflow, files, inputs))

    async def _run(self, workflow, files, inputs):
        wf = workflow if hasattr(workflow, "steps") else self.kernel.load_workflow(workflow)
        batch_id = await self.kernel.engine.submit(wf, expand_paths(files), inputs)
        await self.kernel.engine.run_batch(batch_id)
        return await load_batch(self.kernel, batch_id)

    def resume(self) -> list[BatchOutcome]:
        async def resume():
            return [await load_batch(self.kernel, b) for b in await self.kernel.engine.resume()]

        return self._runner.run(resume())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self.kernel.close())
        finally:
            self._runner.close()


class Reply:
    """An API answer: ``status``, ``headers``, ``body`` (bytes) and ``json`` (parsed, or None)."""

    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.json: Any
        try:
            import json

            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:200]!r}>"


class ApiHarness:
    """A real API server (``paperchain serve``'s app) on a free loopback port, for tests.

    ``await start()`` opens a kernel with only the given plugins, serves it, creates an admin and
    logs in; ``await request(method, path, ...)`` calls it as the admin (or with ``token=``);
    ``await user(name, role)`` makes another user and returns their access token.
    """

    def __init__(self, plugins: Iterable[Any], *, data_dir: Path, config: dict | None = None, api: dict | None = None,
                 builtins: bool = True, triggers: bool = True, database_url: str = ""):
        from .config import ApiSettings

        config = dict(config or {})
        settings = _settings(config, database_url)
        components = config.pop("components", {})
        self.config = Config(source="the test's config", data_dir=Path(data_dir), kernel=settings,
                             components=components, api=ApiSettings(**(api or {})))
        self.kernel = Kernel(self.config, plugins=plugins, builtins=builtins)
        self.triggers = triggers
        self.url = ""
        self.token = ""
        # set by start()
        self._runner: Any = None
        self.session: Any = None
        self.app: Any = None

    async def start(self) -> ApiHarness:
        import secrets

        import aiohttp
        from aiohttp import web

        from .api.app import create_app

        await self.kernel.open()
        self.app = create_app(self.kernel, triggers=self.triggers, load_workflows=False)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self.session = aiohttp.ClientSession()
        self.token = await self.user("admin", "admin", password=secrets.token_urlsafe(16))
        return self

    @property
    def state(self):
        from .api.guard import STATE

        return self.app[STATE]

    async def user(self, name: str, role: str = "viewer", *, tenant: str = "", password: str | None = None) -> str:
        """Create a user and return an access token for them."""
        import secrets

        password = password or secrets.token_urlsafe(16)
        await self.state.accounts.create_user(name, password, role, tenant)
        reply = await self.request("POST", "/api/v1/auth/login", token=None,
                                   json={"username": name, "password": password})
        assert reply.status == 200, reply
        return reply.json["access_token"]

    async def request(self, method: str, path: str, *, token: str | None | bool = True, headers: dict | None = None,
                      **kwargs) -> Reply:
        headers = dict(headers or {})
        if token is True:
            token = self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as response:
            return Reply(response.status, response.headers, await response.read())

    async def wait_run(self, run_id: str, timeout: float = 30) -> dict:
        """Poll a run until it is finished; return it as the API shows it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reply = await self.request("GET", f"/api/v1/runs/{run_id}")
            if reply.json and reply.json.get("status") not in ("queued", "running"):
                return reply.json
            if loop.time() > deadline:
                raise TimeoutError(f"run {run_id} still {reply.json and reply.json.get('status')} after {timeout} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        try:
            if self.session is not None:
                await self.session.close()
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            await self.kernel.close()
