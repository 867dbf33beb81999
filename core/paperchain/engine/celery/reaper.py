"""Re-sends what nobody is doing: running attempts whose lease expired (the worker was killed or
cut off) and queued ones nobody claimed in time (a message lost with a Redis restart).

Runs in every process that sends attempts. Two reapers may see the same attempt due; the
conditional update (``Attempts.requeue``) lets one of them re-send it. A second copy of a message
is harmless anyway: the first worker to claim the attempt wins, the other copy is dropped.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("paperchain.engine.celery.reaper")


class Reaper:
    def __init__(self, attempts, send, *, every: float, resend_after: float):
        self.attempts, self.send = attempts, send
        self.every, self.resend_after = every, resend_after

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
        for row in await self.attempts.due():
            if not await self.attempts.requeue(row, self.resend_after * min(2 ** row.sends, 16)):
                continue
            if row.state == "running":
                log.warning("step attempt %s: its worker's lease expired; queued again", row.id)
            else:
                log.warning("step attempt %s: nobody claimed it in time; sent again", row.id)
            await self.send(row.id, row.queue, row.timeout)
            sent.append(row.id)
        return sent
