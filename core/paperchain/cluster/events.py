"""Kernel events across servers: each event is announced on the bus by the commit that records it;
the others hand it to their ``kernel.remote_listeners`` (the live hub, the web UI's caches, the
trigger host), never to ``paperchain_event`` plugins or metrics, which the emitting server already told.

The announcement is made by a trigger on ``events`` inside the inserting transaction (Alembic
revision 0003), and PostgreSQL delivers it exactly when that transaction commits: an event is
announced if and only if it is recorded, even when its server dies right after the commit. So a
server that receives one can read its row (and its run's, document's tenant) at once, and a live
subscriber's ``since`` replay that did not find it in the table is sure to receive it live
(``api/live.py``). The payload is the whole event when it fits NOTIFY's limit, else only its
number, and the receiver reads the row. A server hears its own announcements too and drops them
(its own listeners were told at emit time).
"""

from __future__ import annotations

import asyncio
import json
import logging

import sqlalchemy as sa

from paperchain_sdk import Event

from ..store.tables import events
from .bus import Bus

CHANNEL = "paperchain_events"  # the trigger's channel (store/migrations/versions/0003_event_notify.py)
_OWN_LIMIT = 100_000  # own numbers awaiting their announcement; beyond it (bus down a long time) they are forgotten
_ROW = sa.select(events.c.seq, events.c.type, events.c.subject, events.c.time, events.c.data).where(
    events.c.seq == sa.bindparam("seq"))
log = logging.getLogger(__name__)


class SharedEvents:
    def __init__(self, kernel, bus: Bus):
        self.k, self.bus = kernel, bus
        self._reading: set[asyncio.Task] = set()
        self._own: set[int] = set()  # numbers of this server's events whose announcement has not come back

    async def open(self) -> None:
        await self.bus.listen(CHANNEL, self._received)

    def committed(self, event: Event, written: asyncio.Future) -> None:
        """Note ``event`` as this server's own (its commit announces it: the echo is dropped)."""
        if len(self._own) >= _OWN_LIMIT:
            self._own.clear()
        self._own.add(event.seq)
        written.add_done_callback(lambda future: self._not_recorded(event.seq, future))

    def _not_recorded(self, seq: int, written: asyncio.Future) -> None:
        if written.cancelled() or written.exception() is not None:
            self._own.discard(seq)  # no commit, so no announcement will come back for it

    def _received(self, message: dict) -> None:
        seq = message.get("s")
        if not isinstance(seq, int):
            return
        if seq in self._own:
            self._own.discard(seq)
            return
        body = message.get("e")
        if body is None:
            task = asyncio.get_running_loop().create_task(self._read(seq))
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
            return
        kind, subject, time, data = body
        self._deliver(Event(type=kind, subject=subject or "", data=json.loads(data or "{}"), time=time, seq=seq))

    async def _read(self, seq: int) -> None:
        try:
            row = await self.k.sql.first(_ROW, {"seq": seq})
        except Exception:  # noqa: BLE001 - the database closing: the event is in the table for since
            log.exception("event %s could not be read", seq)
            return
        if row is not None:
            self._deliver(Event(type=row.type, subject=row.subject or "", data=json.loads(row.data or "{}"),
                                time=row.time, seq=row.seq))

    def _deliver(self, event: Event) -> None:
        self.k._seq = max(self.k._seq, event.seq)
        for listener in list(self.k.remote_listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - as the kernel's own listeners: one failure stays local
                log.exception("a listener failed on event %s", event.seq)

    async def close(self) -> None:
        await asyncio.gather(*self._reading, return_exceptions=True)
