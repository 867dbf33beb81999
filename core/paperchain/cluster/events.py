"""Kernel events across servers: each event, once its row is committed, is sent on the bus; the
others hand it to their ``kernel.remote_listeners`` (the live hub, the web UI's caches, the trigger
host), never to ``paperchain_event`` plugins or metrics, which the emitting server already told.

Sent after the commit, so a server that receives one can read its row (and its run's, document's
tenant) at once, and a live subscriber's ``since`` replay that did not find it in the table is sure
to receive it live (``api/live.py``). The payload is the whole event when it fits NOTIFY's limit,
else only its number, and the receiver reads the row.
"""

from __future__ import annotations

import asyncio
import json
import logging

import sqlalchemy as sa

from paperchain_sdk import Event

from ..store.tables import events
from .bus import Bus, TooLarge

CHANNEL = "paperchain_events"
_ROW = sa.select(events.c.seq, events.c.type, events.c.subject, events.c.time, events.c.data).where(
    events.c.seq == sa.bindparam("seq"))
log = logging.getLogger(__name__)


class SharedEvents:
    def __init__(self, kernel, bus: Bus):
        self.k, self.bus = kernel, bus
        self._reading: set[asyncio.Task] = set()

    async def open(self) -> None:
        await self.bus.listen(CHANNEL, self._received)

    def committed(self, event: Event, written: asyncio.Future) -> None:
        """Send ``event`` once ``written`` (its row's commit) is done."""
        written.add_done_callback(lambda future: self._send(event, future))

    def _send(self, event: Event, written: asyncio.Future) -> None:
        if written.cancelled() or written.exception() is not None:
            return  # not recorded: nobody may see it
        try:
            self.bus.notify(CHANNEL, {"s": event.seq, "e": [event.type, event.subject, event.time, dict(event.data)]})
        except TooLarge:
            self.bus.notify(CHANNEL, {"s": event.seq})

    def _received(self, message: dict) -> None:
        seq = message.get("s")
        if not isinstance(seq, int):
            return
        body = message.get("e")
        if body is None:
            task = asyncio.get_running_loop().create_task(self._read(seq))
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
            return
        kind, subject, time, data = body
        self._deliver(Event(type=kind, subject=subject or "", data=data or {}, time=time, seq=seq))

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
