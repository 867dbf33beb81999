"""Helpers for the trigger tests: a tiny step plugin, an event recorder, waiting for batches."""

from __future__ import annotations

import asyncio
import types

from paperchain_sdk import ActionSpec, InputError, hookimpl
from paperchain_sdk.contracts import Action


class Echo(Action):
    def run(self, ctx, inputs):
        return {"inputs": dict(ctx.inputs), "document": ctx.document.name if ctx.document else None}


class Fail(Action):
    def run(self, ctx, inputs):
        raise InputError("this step always fails (test)")


@hookimpl
def _actions():
    return [ActionSpec(name="test.echo", impl=Echo), ActionSpec(name="test.fail", impl=Fail)]


steps_plugin = types.ModuleType("paperchain_teststeps")
steps_plugin.paperchain_actions = _actions


def workflow(name: str, on: dict, *, fail: bool = False) -> dict:
    return {"name": name, "on": on, "steps": [{"id": "main", "uses": "test.fail" if fail else "test.echo"}]}


class Recorder:
    """Collects the kernel's events; ``await wait(pred)`` polls until one matches."""

    def __init__(self, kernel):
        self.events = []
        kernel.listeners.append(self.events.append)

    def of(self, type_: str):
        return [e for e in self.events if e.type == type_]

    async def wait(self, predicate, timeout: float = 10.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = [e for e in self.events if predicate(e)]
            if found:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event within {timeout}s; saw {[e.type for e in self.events]}")


async def settle(kernel, seconds: float = 5.0):
    """Wait for every background batch of the kernel to finish."""
    deadline = asyncio.get_running_loop().time() + seconds
    while kernel._batches and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)




async def batches(kernel, workflow: str | None = None) -> list[dict]:
    """The kernel's batches (``inputs`` decoded, ``source``), oldest first, of one workflow or all;
    read through the kernel's SQL handle, on SQLite or PostgreSQL."""
    import json

    import sqlalchemy as sa

    from paperchain.store.tables import batches as table

    query = sa.select(table.c.inputs, table.c.source).order_by(table.c.created, table.c.id)
    if workflow is not None:
        query = query.where(table.c.workflow == workflow)
    return [{"inputs": json.loads(row.inputs) if row.inputs else {}, "source": row.source}
            for row in await kernel.sql.read(query)]
