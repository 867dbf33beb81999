"""The triggers' durable state (``triggers_state``, ``triggers_webhook_seen``) in the host's storage.

Triggers keep what must survive a restart here: a schedule's last firing, a threshold's state,
the webhook signatures seen within the replay window. The tables are declared below and created
by the plugin's Alembic migrations (``migrations/versions``); the kernel hands over the handle
(``await kernel.storage(SCHEMA)``) on SQLite or PostgreSQL alike. What triggers need of the
kernel's own records (a batch's inputs, a run's batch, run statuses, a threshold's query) they ask
the kernel interface for.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("triggers", migrations="paperchain_triggers:migrations")
state_table = SCHEMA.table(
    "triggers_state", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False))
seen_table = SCHEMA.table(
    "triggers_webhook_seen", sa.Column("signature", sa.Text, primary_key=True),
    sa.Column("workflow", sa.Text, nullable=False), sa.Column("seen", sa.Float, nullable=False))


class StateStore:
    def __init__(self, kernel):
        self.kernel = kernel
        self._handle = None
        self._opening = asyncio.Lock()
        self._swept = 0.0

    async def _store(self):
        if self._handle is None:
            async with self._opening:
                if self._handle is None:
                    store = await self.kernel.storage(SCHEMA)
                    self._statements(store)
                    self._handle = store
        return self._handle

    def _statements(self, store) -> None:
        # Built once (bound parameters): a trigger writes often, and building a statement costs more
        # than running it.
        key, value, now = sa.bindparam("key"), sa.bindparam("value"), sa.bindparam("now")
        self._get = sa.select(state_table.c.value).where(state_table.c.key == key)
        upsert = store.insert(state_table).values(key=key, value=value, updated=now)
        self._put = upsert.on_conflict_do_update(index_elements=["key"], set_={"value": upsert.excluded.value,
                                                                              "updated": upsert.excluded.updated})
        self._claim = (store.insert(seen_table).values(signature=key, workflow=value, seen=now)
                       .on_conflict_do_nothing(index_elements=["signature"]))

    async def get(self, key: str) -> Any:
        store = await self._store()
        value = await store.scalar(self._get, {"key": key})
        return None if value is None else json.loads(value)

    async def put(self, key: str, value: Any) -> None:
        store = await self._store()
        await store.write(self._put, {"key": key, "value": json.dumps(value), "now": time.time()})

    async def claim_signature(self, signature: str, workflow: str, window: float) -> bool:
        """Remember a webhook signature; False when it was seen within ``window`` seconds (a replay)."""
        store = await self._store()
        now = time.time()
        if now - self._swept > 60:  # forget signatures older than the window, once a minute
            self._swept = now
            await store.write(sa.delete(seen_table).where(seen_table.c.seen < now - window))
        claimed = await store.write(self._claim, {"key": signature, "value": workflow, "now": now})
        return claimed.rowcount == 1

    async def query_number(self, sql: str, params: dict) -> float | None:
        """An operator's read-only SELECT over the kernel's database (the kernel runs it): the first
        column of the first row. Raises ValueError when the query fails."""
        return await self.kernel.query_number(sql, params)

    async def batch_inputs(self, batch_id: str) -> dict:
        """The inputs a batch was submitted with, {} if unknown."""
        batch = await self.kernel.batch(batch_id)
        return batch["inputs"] if batch else {}

    async def batch_of_run(self, run_id: str) -> str:
        run = await self.kernel.run(run_id)
        return run["batch_id"] if run else ""

    async def run_statuses(self, batch_id: str) -> list[str]:
        return await self.kernel.run_statuses(batch_id)

    async def close(self) -> None:
        self._handle = None  # the kernel owns the connections


def store_for(kernel) -> StateStore:
    """One store per kernel, kept in its plugin_state and shared by every trigger of that kernel."""
    state = kernel.plugin_state("triggers")
    if "store" not in state:
        state["store"] = StateStore(kernel)
    return state["store"]


async def close_store(kernel) -> None:
    store = kernel.plugin_state("triggers").pop("store", None)
    if store is not None:
        await store.close()
