"""A worker process: the kernel's event loop in a thread, Celery's worker in the main thread.

``run_worker`` is what ``paperchain worker`` runs once its kernel is built (and what a test runs
with its own plugins): open the kernel (database, blob store, plugins; no API, no triggers),
refuse a plugin version skew with a live server, register in ``members`` with a heartbeat, then
consume the queues until a signal stops Celery, and leave ``members`` on the way out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from paperchain_sdk import ConfigError

from ...config import masked_url
from .app import make_app
from .members import WorkerMember, plugin_versions, skew
from .worker import AttemptRunner, register_task


def _say(line: str) -> None:
    print(line, flush=True)  # at once: a supervisor (or a test) reading the log waits for this line


def run_worker(kernel, *, broker_url: str, queues: list[str], concurrency: int, lease: float = 15.0,
               announce: Callable[[str], None] = _say) -> int:
    """Run until stopped (SIGTERM, SIGINT); return Celery's exit code."""
    kernel.runs_steps_here = True
    with KernelThread(kernel) as thread:
        member = thread.call(_join(kernel, queues))
        thread.beat(member)
        runner = AttemptRunner(kernel, member.id, lease=lease, broker_url=broker_url)
        thread.on_close(runner.close)
        app = make_app(broker_url)
        register_task(app, runner, thread.loop)
        kernel.engine.executor.pool.workers = concurrency  # cpu_bound steps: this many processes
        announce(f"Paperchain worker {member.id} on {masked_url(broker_url)}: queues {','.join(queues)}, "
                 f"{concurrency} step(s) at once")
        celery_worker = app.Worker(hostname=f"{member.id.replace(':', '-')}@{member.host}", queues=queues,
                                   concurrency=concurrency, pool_cls="threads", loglevel="INFO", quiet=True,
                                   without_heartbeat=True, without_mingle=True, without_gossip=True,
                                   optimization="fair")
        celery_worker.start()
        return celery_worker.exitcode or 0


async def _join(kernel, queues: list[str]) -> WorkerMember:
    member = WorkerMember(kernel.sql, kernel, queues)
    problems = skew(plugin_versions(kernel), await member.servers())
    if problems:
        raise ConfigError("this worker's plugins differ from a running server's: " + "; ".join(problems) + ".",
                          hint="install the same plugin versions on every server and worker "
                               "(pip install NAME==VERSION), then start the worker again")
    await member.join()
    return member


class KernelThread:
    """The kernel open on an event loop in a thread of its own; closed (and the member gone) on exit."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="paperchain-kernel", daemon=True)
        self._closing: list[Callable] = []
        self._member: WorkerMember | None = None
        self._beating: asyncio.Task | None = None

    def __enter__(self) -> KernelThread:
        self._thread.start()
        try:
            self.call(self.kernel.open())
        except BaseException:
            self._stop()
            raise
        return self

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def beat(self, member: WorkerMember) -> None:
        async def start():
            return asyncio.create_task(member.keep_beating())

        self._member, self._beating = member, self.call(start())

    def on_close(self, closer: Callable) -> None:
        self._closing.append(closer)

    def __exit__(self, *exc) -> None:
        try:
            self.call(self._close())
        finally:
            self._stop()

    async def _close(self) -> None:
        if self._beating is not None and self._member is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
            await self._member.leave()
        for closer in self._closing:
            await closer()
        await self.kernel.close()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
