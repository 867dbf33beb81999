"""A test plugin for the API tests: actions that wait, fail once, and a route of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs

from paperchain_sdk import ActionSpec, InputError, hookimpl
from paperchain_sdk.contracts import Action


@attrs.define
class WaitSettings:
    seconds: float = 0.05


class Wait(Action):
    async def run(self, ctx, inputs):
        await asyncio.sleep(inputs.seconds)
        return {"waited": inputs.seconds}


@attrs.define
class FailOnceSettings:
    marker: str = ""


class FailUntilFixed(Action):
    """Fails while the marker file is missing: a test 'fixes' the world, then retries the run."""

    def run(self, ctx, inputs):
        if not Path(inputs.marker).exists():
            raise InputError(f"the marker {inputs.marker} is missing", hint="create it")
        return {"fixed": True}


class TestPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [
            ActionSpec(name="test.wait", impl=Wait, settings=WaitSettings, summary="Wait a while"),
            ActionSpec(name="test.fail_until_fixed", impl=FailUntilFixed, settings=FailOnceSettings,
                       summary="Fail until a marker file exists"),
        ]

    @hookimpl
    def paperchain_routes(self, kernel):
        from aiohttp import web

        from paperchain_sdk.web import endpoint, principal, to_json

        routes = web.RouteTableDef()

        @routes.get("/api/v1/test/whoami")
        @endpoint(summary="Who calls (a plugin route)", role="viewer")
        async def whoami(request):
            return web.json_response(to_json(principal(request)))

        @routes.post("/api/v1/test/admin-only")
        @endpoint(summary="Admins only (a plugin route)", role="admin")
        async def admin_only(request):
            return web.json_response({"ok": True})

        return list(routes)


def workflow(name: str, steps: list[dict], **extra) -> dict:
    return {"name": name, "steps": steps, **extra}
