"""A worker in the deployment's ``members`` table: who it is, its queues and plugins, a heartbeat.

Portable Core statements on the process's clock (a worker may share a SQLite file with the server
on one machine; on PostgreSQL the servers keep their own rows, cluster/members.py). Before a
worker takes any step it compares its plugins with every live ``serve``'s: a step of a plugin at
another version could run differently there than the server planned, so the worker refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time

import sqlalchemy as sa

from ...cluster.members import plugin_versions
from ...store.tables import members as t

log = logging.getLogger("paperchain.worker")
BEAT_EVERY = 2.0  # seconds between heartbeats
ALIVE_WITHIN = 30.0  # a serve member whose heartbeat is older is not compared with


def skew(mine: dict[str, str], servers: list[tuple[str, dict[str, str]]]) -> list[str]:
    """Each way this worker's plugins differ from a live server's, as a sentence."""
    found = []
    for server, theirs in servers:
        for name, version in sorted(theirs.items()):
            if name not in mine:
                found.append(f"plugin {name} is {version} on serve {server} but is not installed on this worker")
            elif mine[name] != version:
                found.append(f"plugin {name} is {version} on serve {server} but {mine[name]} on this worker")
    return found


class WorkerMember:
    def __init__(self, sql, kernel, queues: list[str]):
        self.sql, self.kernel, self.queues = sql, kernel, queues
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.id = f"worker:{self.host}:{self.pid}:{os.urandom(3).hex()}"

    async def servers(self) -> list[tuple[str, dict[str, str]]]:
        rows = await self.sql.read(sa.select(t.c.id, t.c.plugins).where(
            t.c.kind == "serve", t.c.stopped.is_(None), t.c.heartbeat > time.time() - ALIVE_WITHIN))
        return [(r.id, json.loads(r.plugins or "{}")) for r in rows]

    async def join(self) -> None:
        now = time.time()
        await self.sql.write(sa.insert(t).values(
            id=self.id, kind="worker", host=self.host, pid=self.pid, address="", queues=json.dumps(self.queues),
            plugins=json.dumps(plugin_versions(self.kernel)), started=now, heartbeat=now, stopped=None))

    async def beat(self) -> None:
        await self.sql.write(sa.update(t).where(t.c.id == self.id).values(heartbeat=time.time()))

    async def keep_beating(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                await self.beat()
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("heartbeat of %s failed: %s", self.id, exc)

    async def leave(self) -> None:
        await self.sql.write(sa.update(t).where(t.c.id == self.id).values(stopped=time.time()))
