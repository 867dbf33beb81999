"""What every trigger here shares: the kernel and workflow it serves, its tasks, event listening.

The trigger host constructs a trigger per workflow as ``Impl(settings)`` and then calls
``attach(kernel, workflow)`` before ``start(emit)``; a trigger built without a kernel (a unit
test) may still run the parts that need none.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from paperchain_sdk import ConfigError, NotFoundError, RunRequest, durations
from paperchain_sdk.contracts import Trigger

log = logging.getLogger("paperchain.triggers")

# Re-exported: every trigger parses its durations with the SDK's one grammar.
parse_duration = durations.parse_duration


def triggers_state(kernel) -> dict:
    """The plugin's per-kernel state (``kernel.plugin_state``): ``running`` maps (workflow, trigger
    name) to the started trigger (what the plugin's web page lists), ``webhooks`` maps a workflow
    to the webhook trigger serving it, ``store`` is the triggers' shared state store."""
    state = kernel.plugin_state("triggers")
    state.setdefault("running", {})
    state.setdefault("webhooks", {})
    return state


def running_triggers(kernel) -> list[HostedTrigger]:
    """The triggers started for ``kernel``'s workflows, by workflow and name."""
    return [trigger for _, trigger in sorted(triggers_state(kernel)["running"].items())]


class HostedTrigger(Trigger):
    """A trigger bound to one workflow of one kernel."""

    name = "trigger"

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self.kernel = None
        self.workflow = ""
        self._emit: Callable[[RunRequest], Awaitable[str]] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._listener = None
        self._tenant = ""
        self._stopped = asyncio.Event()
        self.last_fired: dt.datetime | None = None  # the last firing that started a batch, in this process
        self.last_batch = ""

    def attach(self, kernel, workflow: str) -> None:
        self.kernel, self.workflow = kernel, workflow

    @property
    def where(self) -> str:
        return f"[on.{self.name}] of workflow {self.workflow!r}"

    def require_kernel(self):
        if self.kernel is None:
            raise ConfigError(f"the {self.name!r} trigger needs a running kernel.",
                              hint="start it through the trigger host (`paperchain serve`)")
        return self.kernel

    async def start(self, emit: Callable[[RunRequest], Awaitable[str]]) -> None:
        self._emit = emit
        self._stopped.clear()
        self._tenant = await self._workflow_tenant()
        await self.begin()
        if self.kernel is not None:
            triggers_state(self.kernel)["running"][(self.workflow, self.name)] = self

    @property
    def tenant(self) -> str:
        """The tenant of the workflow served ('' deployment-wide), known once started."""
        return self._tenant

    async def _workflow_tenant(self) -> str:
        """The tenant of the workflow served ('' deployment-wide: it hears every event)."""
        find = getattr(self.kernel, "workflow_tenant", None)
        if find is None or not self.workflow:
            return ""
        try:
            return await find(self.workflow)
        except NotFoundError:  # not saved (a test's bare trigger): deployment-wide
            return ""  # any other failure stops the start: a tenant's trigger never runs as the operator's

    @abc.abstractmethod
    async def begin(self) -> None:
        """What start does once emit is known."""

    async def stop(self) -> None:
        self._stopped.set()
        running = triggers_state(self.kernel)["running"] if self.kernel is not None else {}
        if running.get((self.workflow, self.name)) is self:
            del running[(self.workflow, self.name)]
        if self._listener is not None and self.kernel is not None:
            try:
                self.kernel.listeners.remove(self._listener)
            except ValueError:
                pass
            self._listener = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._emit = None

    # -- helpers ---------------------------------------------------------------------------

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("trigger %s of workflow %r: %s", self.name, self.workflow, task.exception(),
                      exc_info=task.exception())

    def listen(self, on_event: Callable[[Any], None]) -> None:
        """Receive every kernel event (synchronously: hand slow work to :meth:`spawn`); a trigger of a
        tenant's workflow receives only that tenant's events."""
        kernel = self.require_kernel()
        self._listener = on_event if not self._tenant else self._own_tenant_only(kernel, on_event)
        kernel.listeners.append(self._listener)

    def _own_tenant_only(self, kernel, on_event: Callable[[Any], None]) -> Callable[[Any], None]:
        """A tenant's workflow hears only its tenant's events (the lookup may query, so in a task)."""

        async def deliver(event) -> None:
            if await kernel.event_tenant(event) == self._tenant:
                on_event(event)

        return lambda event: self.spawn(deliver(event))

    async def fire(self, request: RunRequest) -> str | None:
        """Emit a run request unless stopped; a failure to submit is logged, never raised."""
        if self._emit is None or self._stopped.is_set():
            return None
        try:
            batch = await self._emit(request)
        except Exception as exc:  # noqa: BLE001 - one refused run must not stop the trigger
            log.error("trigger %s of workflow %r could not start a run: %s", self.name, self.workflow, exc)
            return None
        self.last_fired, self.last_batch = dt.datetime.now(dt.UTC), batch or ""
        return batch
