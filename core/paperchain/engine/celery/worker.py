"""The worker's side: the ``paperchain.attempt`` task and what it does with an attempt's id.

Celery's pool threads receive the messages; each hands the id to the kernel's event loop (its own
thread), where ``AttemptRunner.run`` claims the attempt with a fenced lease (or drops a duplicate
message), builds the arguments from the payload, runs the component through the kernel's local
executor (async components in the loop, sync ones in a thread, ``cpu_bound`` ones in its process
pool; the step's timeout applies), renews the lease every third of it while the step runs, writes
the outcome under the fence, and publishes the id so the awaiting server wakes at once. A lease
that cannot be renewed (the attempt was reaped or cancelled) stops the step: its result would be
refused anyway.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from typing import Any

from ..executor import StepAttempt
from . import app as celery_app
from .attempts import Attempts
from .codec import Materializer, describe, encode_result

log = logging.getLogger("paperchain.engine.celery.worker")


class AttemptRunner:
    def __init__(self, kernel, name: str, *, lease: float = 15.0, broker_url: str = ""):
        self.k = kernel
        self.name = name  # this worker's member id: who holds each lease
        self.lease = lease
        self.attempts = Attempts(kernel.sql)
        self.materializer = Materializer(kernel)
        self.broker_url = broker_url or kernel.config.broker_url
        self._redis: Any = None
        self.outcomes = {"dropped": 0, "succeeded": 0, "failed": 0, "refused": 0, "lost": 0}

    async def run(self, attempt_id: str) -> str:
        """Claim and run one attempt; return what became of it (dropped, succeeded, failed, refused, lost)."""
        row = await self.attempts.claim(attempt_id, self.name, self.lease)
        if row is None:
            log.info("step attempt %s: dropped, it is claimed, finished or cancelled already (a duplicate "
                     "or redelivered message)", attempt_id)
            return self._count("dropped")
        fence = row.fence
        work = asyncio.current_task()
        assert work is not None
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew(attempt_id, fence, work, lost))
        work_dir = self.k.work_dir(row.run_id, row.step_id)
        attempt = None
        succeeded = False
        try:
            args = await self.materializer.args(row.component, row.method, row.payload, str(work_dir))
            entry = self.k.registry.get(row.component)
            attempt = StepAttempt(run_id=row.run_id, step_id=row.step_id, attempt=row.attempt,
                                  component=row.component, method=row.method,
                                  idempotency_key=f"{row.run_id}:{row.step_id}", tenant=row.tenant or "",
                                  timeout=row.timeout, cpu_bound=entry.spec.cpu_bound, args=args)
            result = await self.k.engine.executor.submit(attempt)
            outcome = await encode_result(self.k.blobs, result)
            written = succeeded = await self.attempts.finish(attempt_id, fence, result=outcome)
        except asyncio.CancelledError:
            if not lost.is_set():
                raise  # the worker is stopping: the lease expires and the reaper re-sends the attempt
            if attempt is not None:
                await self.k.engine.executor.cancel(attempt.id)
            log.warning("step attempt %s: stopped, its lease was lost (reaped or cancelled)", attempt_id)
            return self._count("lost")
        except TimeoutError:
            written = await self.attempts.finish(attempt_id, fence, error=f"timed out after {row.timeout:g} s",
                                                 timed_out=True)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
            message, detail, can_retry = describe(exc)
            written = await self.attempts.finish(attempt_id, fence, error=message, error_detail=detail,
                                                 retryable=can_retry)
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            await asyncio.to_thread(shutil.rmtree, work_dir, True)
        if not written:
            log.warning("step attempt %s: its result was refused, the lease (fence %d) was lost meanwhile",
                        attempt_id, fence)
            return self._count("refused")
        await self._publish(attempt_id)
        return self._count("succeeded" if succeeded else "failed")

    def _count(self, outcome: str) -> str:
        self.outcomes[outcome] += 1
        return outcome

    async def _renew(self, attempt_id: str, fence: int, work: asyncio.Task, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                held = await self.attempts.renew(attempt_id, fence, self.lease)
            except Exception:  # noqa: BLE001 - the database is away: keep trying until the lease runs out
                log.exception("renewing the lease of step attempt %s failed", attempt_id)
                continue
            if not held:
                lost.set()
                work.cancel()
                return

    async def _publish(self, attempt_id: str) -> None:
        try:
            if self._redis is None:
                import redis.asyncio as redis

                self._redis = redis.Redis.from_url(self.broker_url)
            await self._redis.publish(celery_app.CHANNEL, attempt_id)
        except Exception as exc:  # noqa: BLE001 - the server's database poll finds the result anyway
            log.warning("could not publish the wake-up of step attempt %s: %s", attempt_id, exc)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


def register_task(app, runner: AttemptRunner, loop: asyncio.AbstractEventLoop):
    """The ``paperchain.attempt`` task on ``app``: runs in a Celery pool thread, waits for the kernel's loop."""

    @app.task(name=celery_app.TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def attempt(attempt_id: str) -> str:
        started = time.monotonic()
        outcome = asyncio.run_coroutine_threadsafe(runner.run(attempt_id), loop).result()
        log.info("step attempt %s: %s in %.4f s", attempt_id, outcome, time.monotonic() - started)
        return outcome

    return attempt
