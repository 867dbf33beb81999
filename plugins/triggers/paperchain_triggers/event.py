"""``event``: start a run when the kernel announces a matching event (e.g. ``run.failed``).

An "error workflow" is ``[on.event] types = ["run.failed"]`` with a notify step. The chain of
workflows whose events led to a run travels in its inputs (``trigger_chain``); a workflow that
would be started by its own run's events, directly or through others, or a chain longer than
``max_depth``, is refused with a logged reason, so event-triggered workflows cannot loop.
"""

from __future__ import annotations

import fnmatch

from paperchain_sdk import RunRequest

from .base import HostedTrigger, log
from .state import store_for

CHAIN_KEY = "trigger_chain"


class EventTrigger(HostedTrigger):
    name = "event"

    async def begin(self) -> None:
        self.store = store_for(self.require_kernel())
        self.refused: list[str] = []
        self.listen(self._on_event)

    def matches(self, event) -> bool:
        s = self.settings
        if not any(fnmatch.fnmatchcase(event.type, pattern) for pattern in s.types):
            return False
        if s.workflows and event.data.get("workflow") not in s.workflows:
            return False
        return all(event.data.get(key) == value for key, value in s.where.items())

    def _on_event(self, event) -> None:
        if self.matches(event):
            self.spawn(self._react(event))

    async def _parent_chain(self, event) -> list[str]:
        batch = event.data.get("batch") or (event.subject if event.type.startswith("batch.") else "")
        if not batch and event.data.get("run"):
            batch = await self.store.batch_of_run(event.data["run"])
        chain = list((await self.store.batch_inputs(batch)).get(CHAIN_KEY, [])) if batch else []
        origin = event.data.get("workflow")
        return chain + [origin] if origin else chain

    async def _react(self, event) -> None:
        chain = await self._parent_chain(event)
        if self.workflow in chain:
            reason = (f"loop refused: workflow {self.workflow!r} would be started by its own run's "
                      f"{event.type} event (chain {' -> '.join(chain + [self.workflow])})")
        elif len(chain) > self.settings.max_depth:
            reason = (f"chain too deep: {' -> '.join(chain + [self.workflow])} exceeds max_depth "
                      f"{self.settings.max_depth}")
        else:
            reason = ""
        if reason:
            self.refused.append(reason)
            log.warning("event trigger of workflow %r: %s", self.workflow, reason)
            return
        inputs = {**self.settings.inputs, CHAIN_KEY: chain,
                  "event": {"type": event.type, "subject": event.subject, "data": dict(event.data),
                            "time": event.time, "seq": event.seq}}
        await self.fire(RunRequest(workflow=self.workflow, inputs=inputs, source="trigger:event",
                                   idempotency_key=f"event:{self.workflow}:{event.type}:{event.subject}:{event.seq}"))
