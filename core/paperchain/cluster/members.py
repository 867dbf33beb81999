"""The deployment's members: each ``serve`` registers itself in ``members`` and keeps a heartbeat.

A member is alive while its heartbeat is younger than ``DEAD_AFTER`` seconds; a clean exit writes
``stopped``. The row's id is the server's holder id (``Cluster.id``: its host and data directory),
so a restarted server takes its own row back. The engine does not trust this table for safety,
leases do that; it tells an operator (and ``paperchain doctor``) who is serving, with which plugins.
"""

from __future__ import annotations

import json
import os
import socket

import sqlalchemy as sa

from .leases import NOW

DEAD_AFTER = 6.0  # seconds without a heartbeat

_JOIN = sa.text(
    "INSERT INTO members (id, kind, host, pid, address, queues, plugins, started, heartbeat, stopped) "
    f"VALUES (:id, :kind, :host, :pid, :address, '', :plugins, {NOW}, {NOW}, NULL) "
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, host = excluded.host, pid = excluded.pid, "
    "address = excluded.address, plugins = excluded.plugins, started = excluded.started, "
    "heartbeat = excluded.heartbeat, stopped = NULL")
_BEAT = sa.text(f"UPDATE members SET heartbeat = {NOW} WHERE id = :id")
_LOCATE = sa.text("UPDATE members SET address = :address WHERE id = :id")
_LEAVE = sa.text(f"UPDATE members SET stopped = {NOW} WHERE id = :id")
_ALIVE = sa.text(f"SELECT id, host, pid, address, plugins FROM members WHERE kind = :kind AND stopped IS NULL "
                 f"AND heartbeat > {NOW} - :dead ORDER BY started")


def plugin_versions(kernel) -> dict[str, str]:
    """Each active plugin and its distribution's version, as a member records them."""
    return {p.name: p.version for p in kernel.plugins if p.status == "active"}


class Members:
    def __init__(self, sql, member_id: str):
        self.sql, self.id = sql, member_id

    async def join(self, kernel, *, kind: str = "serve", address: str = "") -> None:
        await self.sql.write(_JOIN, {"id": self.id, "kind": kind, "host": socket.gethostname(), "pid": os.getpid(),
                                     "address": address, "plugins": json.dumps(plugin_versions(kernel))})

    async def locate(self, address: str) -> None:
        """Record the address this server bound (known only once its socket listens: ``--port 0``)."""
        await self.sql.write(_LOCATE, {"id": self.id, "address": address})

    async def beat(self) -> None:
        await self.sql.write(_BEAT, {"id": self.id})

    async def leave(self) -> None:
        await self.sql.write(_LEAVE, {"id": self.id})

    async def alive(self, kind: str = "serve") -> list[dict]:
        rows = await self.sql.read(_ALIVE, {"kind": kind, "dead": DEAD_AFTER})
        return [{"id": r.id, "host": r.host, "pid": r.pid, "address": r.address,
                 "plugins": json.loads(r.plugins or "{}")} for r in rows]
