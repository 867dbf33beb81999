"""The trigger host: starts each enabled workflow's triggers and keeps them in step with edits.

For every enabled saved workflow and every trigger in its ``on`` table other than ``manual``, the
host builds a trigger instance of its own (settings: plugins.toml's ``[components.<trigger>]``
overlaid with the workflow's ``[on.<trigger>]`` table), hands it ``attach(kernel, workflow)``
when it has that method, and calls ``start(emit)``. ``emit`` submits through ``kernel.submit``
with source ``trigger:<name>``. A trigger that fails to start is logged and the others run on.
``workflow.saved/enabled/disabled/deleted`` events restart that workflow's triggers, whichever
server they happen on.

With several servers on one PostgreSQL database (``kernel.cluster``) exactly one hosts the
triggers: the holder of the leader lease. ``start()`` then only follows the lease; the host starts
its triggers when this server gains it (``lead``) and stops them when it loses it (``step_down``),
and another server takes over within seconds of a leader's death. A folder trigger's folder must
then be one that every server sees at the same path (a shared volume). On SQLite the one server is
always the leader.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from paperchain_sdk import PaperchainError, RunRequest

log = logging.getLogger(__name__)

_WORKFLOW_EVENTS = ("workflow.saved", "workflow.enabled", "workflow.disabled", "workflow.deleted")


class TriggerHost:
    def __init__(self, kernel):
        self.kernel = kernel
        self.running: dict[str, dict[str, Any]] = {}  # workflow -> trigger name -> started instance
        self.failures: dict[tuple[str, str], str] = {}  # (workflow, trigger) -> why it did not start
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task] = set()
        self._started = False

    async def start(self) -> None:
        cluster = getattr(self.kernel, "cluster", None)
        if cluster is None:
            await self.lead()
        else:
            await cluster.follow(self)

    async def stop(self) -> None:
        cluster = getattr(self.kernel, "cluster", None)
        if cluster is not None:
            await cluster.unfollow(self)
        await self.step_down()

    async def lead(self) -> None:
        """Start every enabled workflow's triggers (this server hosts them)."""
        if self._started:
            return
        self._started = True
        self.kernel.listeners.append(self._on_event)
        self.kernel.remote_listeners.append(self._on_event)  # a workflow edited through another server
        for saved in await self.kernel.workflows.list(enabled=True):
            async with self._lock:
                await self._start_workflow(saved.ref, saved.definition)

    async def step_down(self) -> None:
        """Stop every trigger (this server no longer hosts them)."""
        self._started = False
        for listeners in (self.kernel.listeners, self.kernel.remote_listeners):
            if self._on_event in listeners:
                listeners.remove(self._on_event)
        await asyncio.gather(*self._pending, return_exceptions=True)
        async with self._lock:
            for name in list(self.running):
                await self._stop_workflow(name)

    async def restart(self, workflow: str) -> None:
        """Stop a workflow's triggers and start them again from its current saved version."""
        async with self._lock:
            await self._stop_workflow(workflow)
            if not self._started:
                return
            try:
                saved = await self.kernel.workflows.get(workflow)
            except PaperchainError:  # deleted
                return
            if saved.enabled:
                await self._start_workflow(saved.ref, saved.definition)

    # -- internals -------------------------------------------------------------------------------

    def _on_event(self, event) -> None:
        if event.type in _WORKFLOW_EVENTS and event.subject:
            task = asyncio.ensure_future(self.restart(event.subject))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _start_workflow(self, workflow: str, definition: dict) -> None:
        on = definition.get("on", {"manual": {}})
        if isinstance(on, list):
            on = {name: {} for name in on}
        started = self.running.setdefault(workflow, {})
        for name, table in on.items():
            if name == "manual":
                continue
            self.failures.pop((workflow, name), None)
            try:
                trigger = self._build(workflow, name, table or {})
                await trigger.start(self._emitter(workflow, name))
            except Exception as exc:  # noqa: BLE001 - one bad trigger must not stop the others
                reason = str(exc) if isinstance(exc, PaperchainError) else f"{type(exc).__name__}: {exc}"
                self.failures[(workflow, name)] = reason
                log.error("trigger %r of workflow %r did not start: %s", name, workflow, reason,
                          exc_info=None if isinstance(exc, PaperchainError) else exc)
                continue
            started[name] = trigger
            log.info("trigger %r of workflow %r started", name, workflow)

    async def _stop_workflow(self, workflow: str) -> None:
        for name, trigger in self.running.pop(workflow, {}).items():
            try:
                await trigger.stop()
            except Exception as exc:  # noqa: BLE001
                log.error("trigger %r of workflow %r failed to stop cleanly: %s", name, workflow, exc, exc_info=exc)

    def _build(self, workflow: str, name: str, table: dict) -> Any:
        registry = self.kernel.registry
        entry = registry.get(name, kinds=("trigger",))
        settings = registry.settings_for(entry, table, where=f"[on.{name}] of workflow {workflow!r}")
        trigger = entry.spec.load()(settings if entry.spec.settings is not None else None)
        attach = getattr(trigger, "attach", None)
        if callable(attach):
            attach(self.kernel, workflow)
        return trigger

    def _emitter(self, workflow: str, trigger: str):
        async def emit(request: RunRequest) -> str:
            if request.workflow and request.workflow != workflow:
                raise PaperchainError(f"the {trigger!r} trigger of {workflow!r} asked to start {request.workflow!r}.",
                                      hint="a trigger starts only the workflow it is declared in")
            return await self.kernel.submit(workflow, documents=request.documents, paths=request.paths,
                                            inputs=dict(request.inputs), idempotency_key=request.idempotency_key,
                                            source=f"trigger:{trigger}")

        return emit
