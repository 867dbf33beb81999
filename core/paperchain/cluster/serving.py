"""What an API server shares with the others while it serves (``api/app.py`` calls ``join`` at
start-up and ``leave`` at shutdown; nothing here runs on SQLite).

- membership and the leader lease (``Cluster.serve``);
- rate limits: the token buckets' counts are exchanged (``ratelimit.py``);
- caches: a changed user, API key or second factor makes every server re-read the accounts; a
  lifted or new address block, the blocks; a refused credential is counted on every server; a
  logout drops the session from every server's cache. Login lockouts need nothing: each login
  reads its counters from the database (``api/security/throttle.py``), and sessions live there;
- after the bus reconnects (messages may have been missed): accounts and blocks are re-read and
  live subscribers are told to resume with ``since``; likewise once at ``join``, for what changed
  between the start-up's first read and the moment this server began to listen.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..api.accounts import ACCOUNTS_CHANNEL
from ..api.security.ipblock import BLOCKS_CHANNEL
from ..web.sessions import SESSIONS_CHANNEL
from .ratelimit import SharedBuckets

log = logging.getLogger(__name__)


class Serving:
    def __init__(self, state, web_state=None):
        self.state, self.web = state, web_state
        self.cluster = state.kernel.cluster
        self.buckets = SharedBuckets(self.cluster.bus, {"ip": state.ip_buckets, "key": state.key_buckets})
        self._tasks: set[asyncio.Task] = set()
        self._reloading: asyncio.Task | None = None
        self._stale = False

    async def join(self, address: str = "") -> None:
        bus = self.cluster.bus
        await bus.listen(ACCOUNTS_CHANNEL, lambda _message: self._reload_accounts())
        await bus.listen(BLOCKS_CHANNEL, self._blocks)
        await bus.listen(SESSIONS_CHANNEL, self._session_ended)
        bus.on_reconnect.append(self._caught_up)
        # The accounts and blocks were read at start-up before this server listened: a change another
        # server announced meanwhile (the first admin, made by whichever server started first) reached
        # no one here. Read again now that every later change will be heard.
        await self.state.accounts.reload()
        self.state.accounts.security.addresses.reload_now(time.time())
        await self.buckets.start()
        await self.cluster.serve(address)

    async def leave(self) -> None:
        await self.buckets.stop()
        if self._caught_up in self.cluster.bus.on_reconnect:
            self.cluster.bus.on_reconnect.remove(self._caught_up)
        await self.cluster.unserve()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- messages -------------------------------------------------------------------------------

    def _reload_accounts(self) -> None:
        # A burst of changes is read once; one that lands during a re-read is read again after it.
        self._stale = True
        if self._reloading is None or self._reloading.done():
            self._reloading = self._later(self._reload_while_stale())

    async def _reload_while_stale(self) -> None:
        while self._stale:
            self._stale = False
            await self.state.accounts.reload()

    def _blocks(self, message: dict) -> None:
        addresses = self.state.accounts.security.addresses
        now = time.time()
        if message.get("changed"):
            addresses.reload_now(now)
        address = message.get("address")
        if isinstance(address, str):
            addresses.count_elsewhere(address, now)

    def _session_ended(self, message: dict) -> None:
        if self.web is not None and isinstance(message.get("id"), str):
            self.web.sessions.forget(message["id"])

    async def _caught_up(self) -> None:
        self._reload_accounts()
        self.state.accounts.security.addresses.reload_now(time.time())
        for sub in list(self.state.hub.subscribers):
            self.state.hub.drop(sub)  # they reconnect with since: the event log has what the bus missed

    def _later(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a shared-state update failed", exc_info=task.exception())
