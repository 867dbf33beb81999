"""Where a step attempt runs: the executor interface and its two local implementations.

The engine hands every step attempt to an executor and awaits its result; nothing else calls a
component. The interface follows the shape of Airflow's ``BaseExecutor`` and Prefect's
``TaskRunner``: ``submit`` an attempt (a future of its result), ``cancel`` one, ``adopt`` attempts
a previous process left running (after a restart), ``close``.

An attempt is named by ids (run, step, attempt number, component) so that an executor on another
machine can read its inputs from the database and the blob store. The local executors also get
the call's arguments as the engine resolved them (``StepAttempt.args``), which saves them that
read: ``inline`` runs async components in the event loop (sync ones in a thread) and ``pool``
runs ``cpu_bound`` ones in the kernel's process pool (see ``worker``).
"""

from __future__ import annotations

import abc
import asyncio
import inspect
from typing import Any

import attrs


@attrs.frozen
class StepAttempt:
    run_id: str
    step_id: str
    attempt: int
    component: str  # the registered component's name
    method: str  # which of its methods: run, analyze, export, export_batch, predict
    idempotency_key: str
    tenant: str = ""
    document_id: str | None = None
    timeout: float | None = None
    cpu_bound: bool = False
    args: tuple = attrs.field(default=(), eq=False, repr=False)  # the resolved arguments, for local executors

    @property
    def id(self) -> str:
        return f"{self.run_id}/{self.step_id}/{self.attempt}"


class Executor(abc.ABC):
    """Runs step attempts. ``submit`` returns a future; awaiting it gives the component's result
    or raises what it raised (``asyncio.TimeoutError`` once the attempt's timeout has passed)."""

    name: str = ""

    @abc.abstractmethod
    def submit(self, attempt: StepAttempt) -> asyncio.Future: ...

    @abc.abstractmethod
    async def cancel(self, attempt_id: str) -> None:
        """Stop an attempt if it is still running; nothing if it is not known or has finished."""

    async def adopt(self, attempts: list[StepAttempt]) -> dict[str, asyncio.Future]:
        """Take over attempts a previous process left running; return futures of those adopted, by
        attempt id. The engine runs the others again (with the same idempotency key). A local
        executor's attempts died with the process that ran them, so it adopts none."""
        return {}

    @abc.abstractmethod
    async def close(self) -> None: ...


class _Tracked(Executor):
    """Keeps each submitted attempt's future until it finishes, so ``cancel`` can find it."""

    def __init__(self):
        self._running: dict[str, asyncio.Future] = {}

    def _track(self, attempt: StepAttempt, future: asyncio.Future) -> asyncio.Future:
        self._running[attempt.id] = future
        future.add_done_callback(lambda _: self._running.pop(attempt.id, None))
        return future

    async def cancel(self, attempt_id: str) -> None:
        future = self._running.pop(attempt_id, None)
        if future is not None and not future.done():
            future.cancel()


class InlineExecutor(_Tracked):
    """Components in this process: coroutines in the event loop, plain functions in a thread."""

    name = "inline"

    def __init__(self, registry):
        super().__init__()
        self.registry = registry

    def submit(self, attempt: StepAttempt) -> asyncio.Future:
        bound = getattr(self.registry.instance(attempt.component), attempt.method)
        work = bound(*attempt.args) if inspect.iscoroutinefunction(bound) else asyncio.to_thread(bound, *attempt.args)
        if attempt.timeout:
            work = asyncio.wait_for(work, attempt.timeout)
        return self._track(attempt, asyncio.ensure_future(work))

    async def close(self) -> None:
        for future in list(self._running.values()):
            future.cancel()


class ProcessPoolExecutor(_Tracked):
    """``cpu_bound`` components in a pool of worker processes (pebble, forkserver), started on
    first use; a timed-out or cancelled attempt's worker is stopped."""

    name = "pool"

    def __init__(self, registry, workers: int):
        super().__init__()
        self.registry = registry
        self.workers = workers
        self.pool = None

    def start(self):
        if self.pool is None:
            import multiprocessing

            import pebble

            from . import worker

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["paperchain.engine.worker", "paperchain_sdk"])
            self.pool = pebble.ProcessPool(max_workers=self.workers, initializer=worker.init_worker, context=context)
        return self.pool

    def submit(self, attempt: StepAttempt) -> asyncio.Future:
        return self._track(attempt, asyncio.ensure_future(self._run(attempt)))

    async def _run(self, attempt: StepAttempt) -> Any:
        from . import worker

        spec = self.registry.get(attempt.component).spec
        ref = spec.impl if isinstance(spec.impl, str) else f"{spec.impl.__module__}:{spec.impl.__qualname__}"
        component = self.registry.instance(attempt.component)  # validates settings once, in-process
        future = self.start().schedule(worker.call, args=(ref, component.settings, attempt.method, attempt.args),
                                       timeout=attempt.timeout)
        try:
            work = asyncio.wrap_future(future)
            return await (asyncio.wait_for(work, attempt.timeout) if attempt.timeout else work)
        except asyncio.CancelledError:
            future.cancel()  # pebble stops the worker running it
            raise
        except BaseException as exc:
            if type(exc).__name__ == "TimeoutError" and attempt.timeout:
                raise TimeoutError() from None
            raise

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            await asyncio.to_thread(self.pool.join, 10)
            self.pool = None


class LocalExecutor(Executor):
    """Today's deployment: ``cpu_bound`` attempts to the process pool, the rest inline."""

    name = "local"

    def __init__(self, registry, workers: int):
        self.inline = InlineExecutor(registry)
        self.pool = ProcessPoolExecutor(registry, workers)

    def _for(self, attempt: StepAttempt) -> Executor:
        return self.pool if attempt.cpu_bound else self.inline

    def submit(self, attempt: StepAttempt) -> asyncio.Future:
        return self._for(attempt).submit(attempt)

    async def cancel(self, attempt_id: str) -> None:
        await self.inline.cancel(attempt_id)
        await self.pool.cancel(attempt_id)

    async def close(self) -> None:
        await self.inline.close()
        await self.pool.close()
