"""The DAG and retry loop: run one run's steps as their needs finish, each attempt through the
executor, with retries, timeouts, conditions, the step-result cache and durable step records."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import traceback
from collections.abc import Callable
from typing import Any

from paperchain_sdk import ConfigError, PaperchainError, RunContext
from paperchain_sdk.contracts import STEP_METHOD
from paperchain_sdk.retry import retryable

from ..documents import now
from . import expressions
from .cache import StepCache
from .executor import Executor, StepAttempt
from .persistence import RunStore
from .results import Results
from .slots import PrioritySlots
from .state import FINAL, RunState, StepState, reason
from .steplogs import StepLogs
from .steplogs import current as current_step
from .workflow import Step

log = logging.getLogger("paperchain.engine.runner")


class RunLoop:
    def __init__(self, kernel, *, store: RunStore, results: Results, cache: StepCache, executor: Executor,
                 slots: PrioritySlots, logs: StepLogs):
        self.k = kernel
        self.store, self.results, self.cache, self.executor = store, results, cache, executor
        self.slots, self.logs = slots, logs
        self.random = random.Random()
        self.listeners: list[Callable[[RunState], None]] = []  # told when each run finishes
        cfg = kernel.config.kernel
        # The process environment workflows may read, computed once (not per step).
        self._env = {k: os.environ[k] for k in cfg.expose_env if k in os.environ}
        self._env.update({k: v for k, v in os.environ.items() if k.startswith("PAPERCHAIN_VAR_")})
        self._work_base = str(kernel.work_dir(""))

    # -- runs -----------------------------------------------------------------------------------

    async def execute_run(self, run: RunState) -> None:
        steps = run.workflow.batch_steps if run.kind == "batch" else run.workflow.steps
        for step in steps:
            run.steps.setdefault(step.id, StepState(id=step.id, uses=step.uses))
        resumed = run.status == "running"
        run.status, run.started = "running", run.started or now()
        self.store.save_run(run)
        if run.document_id:
            run.document = await self.k.documents.get(run.document_id)
        await self.k.emit("run.resumed" if resumed else "run.started", run.id, run.event_data())

        pending = [s for s in steps if run.steps[s.id].status not in FINAL]
        running: dict[asyncio.Task, Step] = {}
        try:
            while pending or running:
                for step in [s for s in pending if all(run.steps[n].status in FINAL for n in s.needs)]:
                    pending.remove(step)
                    running[asyncio.create_task(self.supervised_step(run, step))] = step
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.pop(task)
                    task.result()
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        failed = [s for s in steps if run.steps[s.id].status == "failed" and not run.steps[s.id].continued]
        run.status = "failed" if failed else "succeeded"
        if failed:
            first = run.steps[failed[0].id]
            run.error = f"step {failed[0].id!r} failed: {first.error}"
        run.finished = now()
        scratch = self.k.work_dir(run.id)
        if scratch.exists():
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        # The run's final row and its event in one transaction: after a kill -9 either both are there,
        # or neither and the resumed run finishes (and tells) again.
        await self.k.emit(f"run.{run.status}", run.id, run.event_data(), durable=True, rows=(("runs", run.row()),))
        for listener in self.listeners:
            listener(run)
        # What a finished run produced is in the database now; holding it would make a batch's
        # memory grow with its size (1,000 documents of 1 MB each would keep their text).
        run.document = run.batch = None
        for state in run.steps.values():
            state.outputs, state.outputs_json = {}, "{}"

    # -- steps ----------------------------------------------------------------------------------

    async def supervised_step(self, run: RunState, step: Step) -> None:
        try:
            await self.execute_step(run, step)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("step %s of run %s failed in the engine", step.id, run.id)
            state = run.steps[step.id]
            await self.finish_failed(run, step, state, f"the engine failed on this step: {reason(exc)}",
                                     "".join(traceback.format_exception(exc)))

    async def execute_step(self, run: RunState, step: Step) -> None:
        state = run.steps[step.id]
        context = self.context(run, step)
        where = f"step {step.id!r} of workflow {run.workflow.name!r}"
        try:
            should_run = (
                expressions.condition(step.if_, context, where=f"{where}, if") if step.if_
                else all(run.steps[n].ok() for n in step.needs)
            )
        except ConfigError as exc:
            return await self.finish_failed(run, step, state, exc.message, None)
        if not should_run:
            state.status, state.finished = "skipped", now()
            self.store.save_step(run, state)
            await self.k.emit("step.skipped", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id})
            return
        try:
            entry = self.k.registry.get(step.uses)
            rendered = expressions.render(step.with_, context, where=f"{where}, with")
            options = rendered if entry.kind == "model" else self.k.registry.settings_for(entry, rendered, where=f"{where}, with")
            self.check_scope(entry, run, step)
        except PaperchainError as exc:
            return await self.finish_failed(run, step, state, str(exc), None)

        cache_key = self.cache.key(entry, run, step, options) if self.cache.cacheable(entry, step) else None
        if cache_key and await self.reuse_cached(run, step, state, cache_key):
            return
        key = f"{run.id}:{step.id}"
        adopted = await self.adopt(entry, run, step, state, options, key)
        for number in range(step.retry.attempts):
            last = number == step.retry.attempts - 1
            async with self.slots.acquire(step.priority):
                if adopted is None:
                    state.attempts += 1
                state.status, state.started, state.error = "running", now(), None
                intent = self.store.save_step(run, state, key)
                self.store.save_attempt(run, state, "running")
                if entry.spec.side_effects:
                    await intent  # the intent is durable before the world is touched
                await self.k.emit("step.started", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "attempt": state.attempts})
                at = (run.id, step.id, state.attempts)
                token = current_step.set(at)
                self.logs.write(at, "info", f"attempt {state.attempts} of {step.uses} started")
                try:
                    attempt = self.attempt(entry, run, step, options, state.attempts, key)
                    result = await self.call(attempt, adopted)
                    state.outputs, state.outputs_json = await self.results.absorb(entry, run, step, result)
                except asyncio.CancelledError:
                    self.logs.write(at, "warning", "cancelled")
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
                    message, detail, retryable = self.describe(exc, step)
                    state.error, state.error_detail = message, detail
                    self.logs.write(at, "error", f"failed: {message}" + ("" if retryable else " (not retryable)"))
                    self.store.save_attempt(run, state, "failed")
                    if last or not retryable:
                        return await self.finish_failed(run, step, state, message, detail)
                else:
                    self.logs.write(at, "info", "succeeded")
                    state.status, state.finished = "succeeded", now()
                    if cache_key:
                        state.cache_key = cache_key
                        self.cache.remember(entry, run, step, cache_key, result, state.outputs, state.outputs_json)
                    self.store.save_attempt(run, state, "succeeded")
                    saved = self.store.save_step(run, state, key)
                    if entry.spec.side_effects:
                        # Committed (one shared group commit) before anything that needs this step
                        # starts, and before its run is reported finished: after a kill -9, a step
                        # recorded as done is never repeated, and one whose effect landed but whose
                        # success was not yet committed is repeated with the same idempotency key.
                        await saved
                    await self.k.emit("step.succeeded", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "attempt": state.attempts})
                    return
                finally:
                    adopted = None
                    current_step.reset(token)
                    self.logs.done(at)
            delay = step.retry.delay(state.attempts, self.random)
            await self.k.emit("step.retrying", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "error": state.error, "delay": delay})
            await asyncio.sleep(delay)

    async def reuse_cached(self, run: RunState, step: Step, state: StepState, cache_key: str) -> bool:
        """Finish the step from the cache if it holds a result for ``cache_key``; say whether it did."""
        reused = await self.cache.reuse(run, step, cache_key)
        if reused is None:
            return False
        state.outputs, state.outputs_json = reused
        state.status, state.cached, state.cache_key = "succeeded", True, cache_key
        state.started = state.finished = now()
        state.error = state.error_detail = None
        self.store.save_step(run, state, f"{run.id}:{step.id}")
        await self.k.emit("step.succeeded", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "attempt": state.attempts, "cached": True})
        return True

    async def finish_failed(self, run, step, state, message, detail) -> None:
        message, detail = self.results.hide_server_paths(message), self.results.hide_server_paths(detail)
        state.status, state.error, state.error_detail, state.finished = "failed", message, detail, now()
        state.continued = step.continue_on_error
        self.store.save_step(run, state)
        await self.k.emit("step.failed", f"{run.id}/{step.id}", {"run": run.id, "workflow": run.workflow.name, "uses": step.uses, "step": step.id, "error": message})

    def check_scope(self, entry, run: RunState, step: Step) -> None:
        if entry.kind in ("exporter", "analyzer") and getattr(entry.spec, "scope", "document") == "document" and run.document is None:
            raise ConfigError(
                f"step {step.id!r} uses the {entry.kind} {step.uses!r}, which needs a document, but this run has none.",
                hint="start the workflow with files (paperchain run WORKFLOW FILE…), or move the step",
            )

    def describe(self, exc: BaseException, step: Step) -> tuple[str, str | None, bool]:
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return f"timed out after {step.timeout:g} s", None, retryable(exc)
        if isinstance(exc, PaperchainError):  # ``detail``: a worker's traceback (engine/celery)
            return str(exc), getattr(exc, "detail", None), retryable(exc)
        name = type(exc).__name__
        if name == "ProcessExpired":  # pebble: the worker process died (crash, OOM kill)
            return f"the worker process died: {exc}", None, retryable(exc)
        return f"{name}: {exc}", "".join(traceback.format_exception(exc)), retryable(exc)

    def context(self, run: RunState, step: Step) -> dict[str, Any]:
        needs = [run.steps[n] for n in step.needs]
        doc = run.document
        env = {**self._env, **run.workflow.env} if run.workflow.env else self._env
        return {
            "inputs": run.inputs,
            "steps": {s.id: {"outputs": s.outputs, "status": s.status, "outcome": s.status,
                             "conclusion": "succeeded" if s.ok() else s.status} for s in run.steps.values() if s.status in FINAL},
            "document": None if doc is None else {
                "id": doc.id, "name": doc.name, "stem": doc.stem, "media_type": doc.media_type, "size": doc.size,
                "text": doc.text, "metadata": doc.metadata, "tags": list(doc.tags), "findings": doc.findings,
            },
            "env": env,
            "run": {"id": run.id, "batch": run.batch_id, "workflow": run.workflow.name},
            "batch": None if run.batch is None else {"id": run.batch.id, "size": len(run.batch.items)},
            "success": lambda: all(s.ok() for s in needs),
            "failure": lambda: any(s.status == "failed" and not s.continued for s in needs),
            "always": lambda: True,
            "cancelled": lambda: False,
        }

    # -- calling components through the executor ------------------------------------------------

    def attempt(self, entry, run: RunState, step: Step, options, attempt: int, key: str) -> StepAttempt:
        """The step attempt as the executor gets it: ids, and the arguments of the component's method."""
        spec = entry.spec
        kind = spec.kind
        args: tuple
        if kind == "action":
            ctx = RunContext(run_id=run.id, step_id=step.id, workflow=run.workflow.name, attempt=attempt,
                             idempotency_key=key, document=run.document, batch=run.batch, inputs=run.inputs,
                             work_dir=f"{self._work_base}/{run.id}/{step.id}", tenant=run.tenant)
            method, args = "run", (ctx, options)
        elif kind == "exporter" and getattr(spec, "scope", "document") == "batch":
            method, args = "export_batch", (run.batch, options)
        elif kind == "model":
            method, args = "predict", (options,)
        else:
            method, args = STEP_METHOD[kind], (run.document, options)
        return StepAttempt(run_id=run.id, step_id=step.id, attempt=attempt, component=spec.name, method=method,
                           idempotency_key=key, tenant=run.tenant, document_id=run.document_id,
                           timeout=step.timeout, cpu_bound=spec.cpu_bound, args=args)

    async def adopt(self, entry, run: RunState, step: Step, state: StepState, options, key: str) -> asyncio.Future | None:
        """A step a previous process left running: the executor's future of it if the executor
        took it over (it may still be running elsewhere), else None (it is run again)."""
        if state.status != "running" or not state.attempts:
            return None
        attempt = self.attempt(entry, run, step, options, state.attempts, key)
        return (await self.executor.adopt([attempt])).get(attempt.id)

    async def call(self, attempt: StepAttempt, adopted: asyncio.Future | None = None):
        future = adopted if adopted is not None else self.executor.submit(attempt)
        try:
            return await future
        except asyncio.CancelledError:
            await self.executor.cancel(attempt.id)
            raise
