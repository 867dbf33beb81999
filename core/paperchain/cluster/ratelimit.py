"""Rate limits across servers: each server tells the others what its token buckets let through.

Every ``INTERVAL`` seconds a server sends, per bucket set, the keys that took tokens since the last
exchange and how many (``TokenBuckets.taken``), in messages that fit NOTIFY's payload; receivers
``absorb`` them. A request is still decided from memory. A client spreading requests over several
servers may exceed its limit by what those servers let through within one interval.
"""

from __future__ import annotations

import asyncio
import logging

from .bus import Bus

CHANNEL = "paperchain_ratelimit"
INTERVAL = 0.1  # seconds between exchanges
_PER_MESSAGE = 60  # keys per message: client addresses and principal names stay well under 8000 bytes
log = logging.getLogger(__name__)


def _key_out(key):
    return list(key) if isinstance(key, tuple) else key


def _key_in(key):
    return tuple(key) if isinstance(key, list) else key


class SharedBuckets:
    def __init__(self, bus: Bus, buckets: dict):
        self.bus, self.buckets = bus, buckets  # name -> TokenBuckets
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        for buckets in self.buckets.values():
            buckets.taken = {}
        await self.bus.listen(CHANNEL, self._received)
        self._task = asyncio.create_task(self._exchange_forever(), name="paperchain-ratelimit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.send()
        for buckets in self.buckets.values():
            buckets.taken = None

    async def _exchange_forever(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            self.send()

    def send(self) -> None:
        for name, buckets in self.buckets.items():
            taken = buckets.taken
            if not taken:
                continue
            buckets.taken = {}
            items = [[_key_out(k), n] for k, n in taken.items()]
            for start in range(0, len(items), _PER_MESSAGE):
                try:
                    self.bus.notify(CHANNEL, {"b": name, "k": items[start:start + _PER_MESSAGE]})
                except ValueError:  # an absurdly long key: its count stays local
                    log.warning("rate-limit counts not shared (a message too large)")

    def _received(self, message: dict) -> None:
        buckets = self.buckets.get(message.get("b"))
        if buckets is None:
            return
        for key, count in message.get("k") or ():
            if isinstance(count, int) and count > 0:
                buckets.absorb(_key_in(key), count)
