"""Re-sends what nobody is doing: running attempts whose lease expired (the worker was killed or
cut off) and queued ones nobody claimed in time while their queue in Redis is empty (the message
was lost with a Redis restart, or a killed worker had taken it without starting it). A queued
attempt whose queue still holds messages is only waiting its turn behind busy workers: it is
looked at again later, and re-sent anyway once it has waited ``PATIENCE`` rounds (a queue that
never drains must not hold a lost attempt for ever).

Runs in every process that sends attempts. Two reapers may see the same attempt due; the
conditional update (``Attempts.requeue``) lets one of them re-send it. A second copy of a message
is harmless anyway: the first worker to claim the attempt wins, the other copy is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("paperchain.engine.celery.reaper")
PATIENCE = 16  # times resend_after a queued attempt waits behind a busy queue before it is re-sent


class Reaper:
    def __init__(self, attempts, send, *, every: float, resend_after: float, waiting=None):
        self.attempts, self.send = attempts, send
        self.every, self.resend_after = every, resend_after
        self.waiting = waiting  # async (queue) -> messages waiting in it; None: always re-send

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.reap()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("reaping step attempts failed")

    async def reap(self) -> list[str]:
        """One round; the ids re-sent."""
        sent = []
        depths: dict[str, int] = {}
        for row in await self.attempts.due():
            if row.state == "queued" and self.waiting is not None and time.time() - row.created < \
                    PATIENCE * self.resend_after:
                if row.queue not in depths:
                    depths[row.queue] = await self.waiting(row.queue)
                if depths[row.queue] > 0:
                    await self.attempts.postpone(row, self.resend_after)
                    continue
            if not await self.attempts.requeue(row, self.resend_after * min(2 ** row.sends, 16)):
                continue
            if row.state == "running":
                log.warning("step attempt %s: its worker's lease expired; queued again", row.id)
            else:
                log.warning("step attempt %s: nobody claimed it in time; sent again", row.id)
            await self.send(row.id, row.queue, row.timeout)
            sent.append(row.id)
        return sent
