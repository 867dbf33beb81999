"""Many servers on one PostgreSQL database behaving as one (``kernel.cluster``; None on SQLite).

A kernel on PostgreSQL opens a ``Cluster``: it may share the database with other ``serve``,
``run`` or ``worker`` processes. The parts, each in its own module:

- ``sequence``: event numbers from the ``counters`` table, unique across processes;
- ``bus`` and ``events``: LISTEN/NOTIFY, carrying committed events to the other servers' live
  subscribers, and cache invalidations (accounts, sessions, blocks) and rate-limit counts
  (``serving``, ``ratelimit``);
- ``leases``: fenced named leases on the database's clock; ``batches``: a batch is run only by the
  holder of ``batch:<id>``; the lease ``triggers`` makes one serving process the leader, which
  hosts the workflows' triggers (``TriggerHost.lead``) and resumes the batches of dead servers;
- ``members``: each ``serve`` with its host, pid, address, plugins and heartbeat.

One task per kernel ticks every ``ttl / 3`` seconds: it renews this process's batch leases and,
while serving, its heartbeat and its bid for (or hold on) the leader lease (only a server with a
trigger host bids: ``serve --no-triggers`` never leads, and sweeps for dead servers' batches itself). On SQLite nothing here
runs: one server owns its data directory and is always the leader, at no cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time

from .batches import BatchOwnership
from .bus import CLOSE_TIMEOUT, Bus
from .events import SharedEvents
from .leases import Leases
from .members import Members
from .sequence import EventSequence

LEADER = "triggers"  # the leader lease's name: its holder hosts the triggers
log = logging.getLogger(__name__)


def holder_id(data_dir) -> str:
    """This server's id in leases and members: its host and data directory (one writer per data
    directory), so that a restarted server takes back its own leases at once."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}:{digest}"


def announce(kernel, channel: str, message: dict | None = None) -> None:
    """Tell the other servers something changed (a no-op without a cluster: SQLite)."""
    cluster = getattr(kernel, "cluster", None)
    if cluster is not None:
        cluster.bus.notify(channel, message or {})


def announce_when_committed(kernel, written, channel: str, message: dict | None = None) -> None:
    """``announce`` once the journal's future ``written`` has committed (nothing if it failed)."""
    if getattr(kernel, "cluster", None) is None:
        return

    def done(future) -> None:
        if not future.cancelled() and future.exception() is None:
            announce(kernel, channel, message)

    written.add_done_callback(done)


class Cluster:
    TTL = 6.0  # seconds a lease lasts unrenewed: a dead leader or batch owner is replaced after this

    def __init__(self, kernel):
        self.k = kernel
        self.id = holder_id(kernel.data_dir)
        self.ttl = self.TTL
        dsn = kernel.database.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.leases = Leases(kernel.sql, self.id)
        self.sequence = EventSequence(dsn)
        self.batches = BatchOwnership(self.leases, self.ttl)
        self.members = Members(kernel.sql, self.id)
        self.bus = Bus(dsn, self.id)
        self.events = SharedEvents(kernel, self.bus)
        self.leader = False
        self.serving = False
        self.followers: list = []  # trigger hosts: lead() when this server leads, step_down() when not
        self._lead_until = 0.0  # time.monotonic() until which the last renewal holds the lease
        self._ticker: asyncio.Task | None = None
        self._changing = asyncio.Lock()  # one leadership change at a time
        self._unreachable = False  # closing found the database gone: its remaining steps are skipped

    @classmethod
    async def open(cls, kernel) -> Cluster:
        cluster = cls(kernel)
        try:
            await cluster.sequence.open()
            await cluster.bus.open()
            await cluster.events.open()
        except BaseException:
            await cluster.bus.close()
            await cluster.sequence.close()
            raise
        cluster._ticker = asyncio.create_task(cluster._tick_forever(), name="paperchain-cluster")
        return cluster

    # -- serving and leading ----------------------------------------------------------------------

    async def serve(self, address: str = "") -> None:
        """Register this process as a ``serve`` member (the trigger host, if any, bids for the lease)."""
        await self.members.join(self.k, address=address)
        self.serving = True
        await self.tick()

    async def unserve(self) -> None:
        self.serving = False
        await self._bounded(self._step_down(release=True), "the leader lease not released")
        await self._bounded(self.members.leave(), "this server not marked stopped in members")

    async def follow(self, host) -> None:
        """Have ``host`` lead (its ``lead()``) whenever this server holds the leader lease."""
        self.followers.append(host)
        if self.leader:
            await host.lead()
        else:
            await self.tick()

    async def unfollow(self, host) -> None:
        if host in self.followers:
            self.followers.remove(host)
        if not self.followers and not self.serving:
            await self._step_down(release=True)

    # -- the tick ---------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self.tick()

    async def tick(self) -> None:
        """Renew batch leases; while serving: heartbeat, leader lease, and the leader's sweep."""
        try:
            for batch_id in await self.batches.renew():
                log.warning("batch %s is run by another server now (this one stalled); stopping it here", batch_id)
                task = self.k._batches.get(batch_id)
                if task is not None:
                    task.cancel()
            if self.serving:
                await self.members.beat()
            if self.followers:  # a server without a trigger host (serve --no-triggers) never leads
                await self._contest()
            if self.serving and (self.leader or not self.followers):  # claims are atomic: sweeps may overlap
                for batch_id in await self.batches.orphans(self.k.sql, self.k._batches):
                    log.info("resuming batch %s, which no live server holds", batch_id)
                    self.k.start_batch(batch_id, resume=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the database away for a moment: the next tick tries again
            log.exception("cluster tick failed")
            if self.leader and time.monotonic() > self._lead_until:
                await self._step_down(release=False)  # the lease may be another's by now

    async def _contest(self) -> None:
        started = time.monotonic()
        fence = await self.leases.take(LEADER, self.ttl)
        if fence is None:
            await self._step_down(release=False)
            return
        self._lead_until = started + self.ttl * 0.8  # stop before the lease could be taken
        async with self._changing:
            if not self.leader:
                self.leader = True
                log.info("this server leads (fence %d): it hosts the triggers", fence)
                for host in list(self.followers):
                    await _quietly(host.lead())

    async def _step_down(self, *, release: bool) -> None:
        async with self._changing:
            if self.leader:
                self.leader = False
                log.info("this server no longer leads: its triggers stop")
                for host in list(self.followers):
                    await _quietly(host.step_down())
            if release:
                await self.leases.release(LEADER)

    # -- closing ----------------------------------------------------------------------------------

    async def _bounded(self, step, failed: str) -> None:
        """Await a closing step on the database for at most CLOSE_TIMEOUT seconds; once one found
        the database unreachable, the next ones are skipped (they would only wait as long)."""
        if self._unreachable:
            step.close()
            log.warning("%s: the database is unreachable", failed)
            return
        try:
            await asyncio.wait_for(step, CLOSE_TIMEOUT)
        except TimeoutError:
            self._unreachable = True
            log.warning("%s: the database did not answer within %.0f s", failed, CLOSE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - closing on a lost database: leases simply expire
            log.warning("%s: %s", failed, exc)

    async def close(self) -> None:
        """Every wait here is bounded: on a lost database the process still stops within seconds
        (its leases expire, its members row goes stale: the others carry on)."""
        self.bus.stop_reconnecting()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self.serving:
            await self.unserve()
        await self._bounded(self.batches.leases.release_prefix("batch:"), "batch leases not released")  # for a survivor
        await self._bounded(self.events.close(), "events from other servers not read")
        await self.bus.close()
        await self.sequence.close()


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - one host's failure must not stop the others' change
        log.exception("a leadership change failed")
