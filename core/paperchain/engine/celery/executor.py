"""The engine's side of the Celery executor: record an attempt, send its id, await its row.

``submit`` writes the attempt (its arguments as JSON) to ``step_attempts`` and sends its id to the
queue of its capability; the future resolves when a worker has finished the row. A worker
publishes the id on ``paperchain:attempts`` (Redis pub/sub on the broker) when it has; a poll of the
database every ``poll`` seconds catches any wake-up that was missed. After a restart, attempts
still in the table are adopted (awaited where they are) instead of run again. The reaper runs
beside it in every process that sends attempts (``reaper.Reaper``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from ...config import masked_url
from ..executor import Executor, StepAttempt
from . import app as celery_app
from .attempts import FINISHED, Attempts
from .codec import RemoteStepError, decode_result, encode_args
from .reaper import Reaper

log = logging.getLogger("paperchain.engine.celery")


class CeleryExecutor(Executor):
    name = "celery"

    def __init__(self, kernel, broker_url: str, *, poll: float = 2.0, resend_after: float = 60.0,
                 reap_every: float = 2.0):
        self.k = kernel
        self.broker_url = broker_url
        self.app = celery_app.make_app(broker_url)
        self.attempts = Attempts(kernel.sql)
        self.poll, self.resend_after = poll, resend_after
        self.reaper = Reaper(self.attempts, self.send, every=reap_every, resend_after=resend_after,
                             waiting=self.waiting)
        self._waiting: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._submitting: set[asyncio.Task] = set()  # held: the loop keeps only weak references to tasks

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen(), name="paperchain-celery-wakeups"),
                           asyncio.create_task(self._poll(), name="paperchain-celery-poll"),
                           asyncio.create_task(self.reaper.run(), name="paperchain-celery-reaper")]

    async def send(self, attempt_id: str, queue: str, timeout: float | None) -> None:
        await asyncio.to_thread(celery_app.send, self.app, attempt_id, queue, timeout)

    async def waiting(self, queue: str) -> int:
        return await asyncio.to_thread(celery_app.queue_depth, self.app, queue)

    # -- the interface --------------------------------------------------------------------------

    def submit(self, attempt: StepAttempt) -> asyncio.Future:
        future = self._wait_for(attempt.id)
        task = asyncio.create_task(self._submit(attempt, future))
        self._submitting.add(task)
        task.add_done_callback(self._submitting.discard)
        return future

    async def _submit(self, attempt: StepAttempt, future: asyncio.Future) -> None:
        try:
            queue = celery_app.queue_for(attempt.component)
            row, created = await self.attempts.enqueue({
                "id": attempt.id, "run_id": attempt.run_id, "step_id": attempt.step_id, "attempt": attempt.attempt,
                "tenant": attempt.tenant, "component": attempt.component, "method": attempt.method, "queue": queue,
                "payload": self.payload(attempt), "timeout": attempt.timeout,
            }, resend_after=self.resend_after)
            if created:
                try:
                    await self.send(attempt.id, queue, attempt.timeout)
                except Exception as exc:  # noqa: BLE001 - the row is the truth: the reaper sends it later
                    log.warning("step attempt %s is recorded but could not be sent (%s); it is sent again once "
                                "the broker %s answers", attempt.id, exc, masked_url(self.broker_url))
            elif row.state in FINISHED:  # submitted before (a restart): its outcome stands
                self._settle(row)
        except BaseException as exc:  # noqa: BLE001 - the awaiting step records it
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def payload(self, attempt: StepAttempt) -> str:
        """The attempt's arguments as JSON: its settings only where the step's ``with`` changed them."""
        registry = self.k.registry
        entry = registry.get(attempt.component)
        defaults = None
        if entry.kind != "model" and entry.spec.settings is not None:
            defaults = registry.settings_for(entry, None, where=f'table [components."{attempt.component}"]')
        return encode_args(attempt.method, attempt.args, defaults)

    async def cancel(self, attempt_id: str) -> None:
        """Stop awaiting the attempt; stop the attempt itself only when a user cancelled its run. When
        this process is stopping instead, the attempt goes on on its worker and the next start adopts it."""
        future = self._waiting.pop(attempt_id, None)
        if future is not None and not future.done():
            future.cancel()
        run_id = attempt_id.split("/", 1)[0]
        if run_id in self.k.engine.batches.cancelled:
            await self.attempts.cancel(attempt_id)  # the worker's lease renewal sees it and stops the step

    async def adopt(self, attempts: list[StepAttempt]) -> dict[str, asyncio.Future]:
        """An attempt with a row is adopted: awaited where it is (queued, running) or settled from
        its outcome; one without (never sent) or cancelled is left to the engine to run again."""
        adopted = {}
        for attempt in attempts:
            row = await self.attempts.get(attempt.id)
            if row is None or row.state == "cancelled":
                continue
            adopted[attempt.id] = self._wait_for(attempt.id)
            if row.state in FINISHED:
                self._settle(row)
        return adopted

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for future in self._waiting.values():
            future.cancel()  # the attempts go on on their workers; the next start adopts them
        self._waiting.clear()

    # -- waking the awaiting steps --------------------------------------------------------------

    def _wait_for(self, attempt_id: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting[attempt_id] = future
        future.add_done_callback(lambda done: self._waiting.pop(attempt_id, None)
                                 if self._waiting.get(attempt_id) is done else None)
        return future

    def _settle(self, row) -> None:
        future = self._waiting.pop(row.id, None)
        if future is None or future.done():
            return
        if row.state == "succeeded":
            try:
                future.set_result(decode_result(json.loads(row.result), row.component))
            except RemoteStepError as exc:
                future.set_exception(exc)
        elif row.state == "failed":
            timed_out = row.result and json.loads(row.result).get("timed_out")
            future.set_exception(TimeoutError() if timed_out else
                                 RemoteStepError(row.error or "the step failed on a worker", row.error_detail,
                                                 bool(row.retryable)))
        else:
            future.cancel()

    async def _check(self, attempt_ids) -> None:
        for row in await self.attempts.finished([i for i in attempt_ids if i in self._waiting]):
            self._settle(row)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self._check(list(self._waiting))
            except Exception:  # noqa: BLE001 - the next poll tries again
                log.exception("polling step attempts failed")

    async def _listen(self) -> None:
        import redis.asyncio as redis

        delay = 0.5
        while True:
            client = redis.Redis.from_url(self.broker_url)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(celery_app.CHANNEL)
                    delay = 0.5
                    async for message in pubsub.listen():
                        attempt_id = message["data"].decode()
                        if attempt_id in self._waiting:
                            await self._check([attempt_id])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the poll covers while Redis is away
                log.warning("wake-ups from %s stopped (%s); the database poll goes on, retrying in %.1f s",
                            masked_url(self.broker_url), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
