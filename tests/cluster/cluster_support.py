"""What the cluster tests share: a test plugin (an action and a trigger that record which server
ran them), a harness whose admin may already exist, and polling."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

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
