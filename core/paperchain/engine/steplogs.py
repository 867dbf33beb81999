"""Step logs: what a step's component logged, and the engine's own notes on each attempt.

A contextvar names the step being run; ``asyncio.to_thread`` copies it, so a component's
``logging`` calls in the event loop or in a worker thread land in the step's log. (Components in
the process pool log to their worker's stderr; the engine's notes still record each attempt.)
"""

from __future__ import annotations

import contextvars
import logging

from ..documents import now

current: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("paperchain_step", default=None)
_MAX_LINES = 1000  # per attempt: a chatty component must not fill the database


class StepLogs(logging.Handler):
    def __init__(self, journal):
        super().__init__(logging.INFO)
        self.journal = journal
        self._seq: dict[tuple, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        where = current.get()
        if where is None or record.name.startswith(("aiosqlite", "asyncio")):
            return
        try:
            self.write(where, record.levelname.lower(), record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never break a step
            self.handleError(record)

    def write(self, where: tuple, level: str, message: str) -> None:
        seq = self._seq.get(where, 0) + 1
        if seq > _MAX_LINES:
            return
        self._seq[where] = seq
        run_id, step_id, attempt = where
        self.journal.upsert("step_logs", {"run_id": run_id, "step_id": step_id, "attempt": attempt, "seq": seq,
                                          "time": now(), "level": level, "message": message[:10_000]})

    def done(self, where: tuple) -> None:
        self._seq.pop(where, None)
