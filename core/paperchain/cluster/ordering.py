"""Events handed on in sequence order although servers commit them in another order.

Sequence numbers are allocated in one order (``sequence.py``) and arrive here in another: this
server's own events at once, another server's after its commit and NOTIFY. ``InOrder`` holds an
event whose predecessors have not arrived yet, and hands on each number only once every lower one
has been handed on; a number still missing after ``hold`` seconds (an emit whose process died, or
a commit slower than that) is given up, and the ones after it go on. ``next`` is therefore a
horizon: every number below it was handed on or given up. An event that arrives after its number
was given up is still handed on at once (a client whose cursor is past it skips it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from paperchain_sdk import Event

HOLD = 1.0  # seconds a gap in the numbers is waited for


class InOrder:
    def __init__(self, deliver: Callable[[Event], None], next_seq: int, *, hold: float = HOLD):
        self.deliver, self.next, self.hold = deliver, next_seq, hold
        self.waiting: dict[int, Event] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._gap = 0  # the number the timer waits for

    def add(self, event: Event) -> None:
        seq = event.seq
        if seq < self.next:
            self.deliver(event)  # late: its gap was given up (or it predates this server's start)
            return
        self.waiting.setdefault(seq, event)
        self._drain()

    def _drain(self) -> None:
        while self.next in self.waiting:
            event = self.waiting.pop(self.next)
            self.next += 1
            self.deliver(event)
        if not self.waiting:
            self._cancel()
        elif self._timer is None or self._gap != self.next:
            self._cancel()
            self._gap = self.next
            self._timer = asyncio.get_running_loop().call_later(self.hold, self._give_up)

    def _give_up(self) -> None:
        self._timer = None
        if self.waiting:
            self.next = min(self.waiting)
            self._drain()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
