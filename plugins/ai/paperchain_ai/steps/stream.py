"""Tokens as they are generated, told as ``ai.tokens`` events in batches.

Every event is a row of the kernel's durable event log and a message to each live subscriber,
so one event per token would flood both (a local model makes 30 tokens/s, a server hundreds).
Pieces are gathered and told together when ``every`` seconds have passed since the last event
or ``chars`` characters are waiting, whichever comes first, and whatever is left at the end: at
most about 1/``every`` events per second per step, whatever the model's speed. Each event names
its run (so only the run's tenant hears it), step and sequence number, and carries the text."""

from __future__ import annotations

import time
from typing import Any


class TokenEvents:
    def __init__(self, kernel: Any, ctx: Any, *, every: float = 0.25, chars: int = 400):
        self.kernel, self.ctx = kernel, ctx
        self.every, self.chars = every, chars
        self.pending: list[str] = []
        self.waiting = 0
        self.sequence = 0
        self.last = time.monotonic()

    async def add(self, piece: str) -> None:
        self.pending.append(piece)
        self.waiting += len(piece)
        if self.waiting >= self.chars or time.monotonic() - self.last >= self.every:
            await self.flush()

    async def flush(self, *, done: bool = False) -> None:
        if not self.pending and not done:
            return
        self.sequence += 1
        data = {"run": self.ctx.run_id, "workflow": self.ctx.workflow, "step": self.ctx.step_id,
                "sequence": self.sequence, "text": "".join(self.pending), "done": done}
        await self.kernel.emit("ai.tokens", f"{self.ctx.run_id}/{self.ctx.step_id}", data)
        self.pending, self.waiting, self.last = [], 0, time.monotonic()
