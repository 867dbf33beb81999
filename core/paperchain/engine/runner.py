"""The engine: durable execution of workflows, batches of runs, each a DAG of steps.

Everything that matters is written through the journal as whole rows: a run or step is never
only in memory once it has started. After a crash, ``resume()`` picks up every unfinished batch:
documents not yet ingested are ingested, steps that finished keep their outputs and are not run
again, steps that were in flight run again with the same idempotency key (unless the executor
adopts them).

This module wires the parts and is the engine's public face: ``state`` (what a run holds),
``persistence`` (its SQL), ``batches`` (batches and their runs), ``loop`` (the DAG and retry
loop), ``executor`` (where attempts run), ``results`` (what a step leaves) and ``cache`` (the
step-result cache).
"""

from __future__ import annotations

import logging

from paperchain_sdk import Batch

from .batches import Batches
from .cache import StepCache
from .executor import Executor, LocalExecutor
from .loop import RunLoop
from .persistence import RunStore
from .results import Results
from .slots import PrioritySlots
from .state import DOCUMENT_ENTRY, FINAL, RunState, StepState, new_id  # noqa: F401 - the engine's records
from .steplogs import StepLogs
from .workflow import Workflow


class Engine:
    def __init__(self, kernel, executor: Executor | None = None):
        self.k = kernel
        self.slots = PrioritySlots(kernel.config.kernel.concurrency)
        self.logs = StepLogs(kernel.journal)
        logging.getLogger().addHandler(self.logs)
        self.store = RunStore(kernel)
        self.results = Results(kernel)
        self.cache = StepCache(kernel, self.store, self.results)
        self.executor = executor or LocalExecutor(kernel.registry, kernel.config.workers)
        self.loop = RunLoop(kernel, store=self.store, results=self.results, cache=self.cache, executor=self.executor,
                            slots=self.slots, logs=self.logs)
        self.batches = Batches(kernel, self.store, self.loop)

    @property
    def listeners(self) -> list:
        """Called with each run as it finishes."""
        return self.loop.listeners

    async def submit(self, workflow: Workflow, paths=(), inputs: dict | None = None, *, documents=(),
                     source: str = "cli", idempotency_key: str = "", created_by: str = "") -> str:
        """Record a batch durably (before any work), ingest its files, create its runs.

        ``paths`` are files to ingest, ``documents`` ids of stored documents; with neither, one run
        gets ``inputs`` alone. A repeated non-empty ``idempotency_key`` returns the first batch's id.
        """
        return (await self.create_batch(workflow, paths, inputs, documents=documents, source=source,
                                        idempotency_key=idempotency_key, created_by=created_by))[0]

    async def create_batch(self, workflow: Workflow, paths=(), inputs: dict | None = None, *, documents=(),
                           source: str = "cli", idempotency_key: str = "", created_by: str = "",
                           tenant: str = "") -> tuple[str, bool]:
        """As :meth:`submit`, also saying whether this call created the batch (False: a repeat).
        ``tenant`` is the tenant its runs belong to ('' for the deployment-wide scope)."""
        return await self.batches.create(workflow, paths, inputs, documents=documents, source=source,
                                         idempotency_key=idempotency_key, created_by=created_by, tenant=tenant)

    async def run_batch(self, batch_id: str) -> str:
        """Run every unfinished run of a batch, then its batch steps; return the batch status.

        Nothing but a shutdown escapes: a run the engine itself fails on is failed with the error
        recorded while the others go on, and a batch that cannot go on at all is failed, so no
        batch is left ``running`` with nothing running it."""
        return await self.batches.supervised(batch_id, self.batches.run(batch_id))

    async def cancel_run(self, run_id: str) -> str:
        """Stop a queued or running run; its running steps are interrupted. Returns the run's status."""
        return await self.batches.cancel_run(run_id)

    async def retry_run(self, run_id: str) -> str:
        """Make a failed or cancelled run runnable again from its failed steps (finished steps keep
        their outputs); return its batch id, which the caller runs."""
        return await self.batches.retry_run(run_id)

    async def resume(self) -> list[str]:
        """Finish every batch a crash or stop left unfinished; return their ids. With other servers
        on the database (``kernel.cluster``), only those no live server holds (cluster/batches.py)."""
        owner = self.k.cluster.batches if self.k.cluster is not None else None
        resumed = []
        for batch_id in await self.store.unfinished_batches():
            if owner is not None and not await owner.claim(batch_id):
                continue  # another server runs it
            try:
                await self.resume_batch(batch_id)
            finally:
                if owner is not None:
                    await owner.release(batch_id, finished=True)
            resumed.append(batch_id)
        return resumed

    async def resume_batch(self, batch_id: str) -> str:
        """Ingest what a stop left un-ingested, then run what is unfinished; return the batch status."""
        return await self.batches.supervised(batch_id, self.batches.resume(batch_id))

    async def load_batch(self, batch_id: str, workflow_name: str) -> Batch:
        """The batch as batch-scoped components see it: each run with its document, outputs, artifacts."""
        return await self.batches.load(batch_id, workflow_name)

    # Workflow versions, for the kernel's saved workflows (workflows.py).
    async def _save_workflow(self, workflow: Workflow, created_by: str = "") -> None:
        await self.store.save_workflow(workflow, created_by)

    async def _workflow(self, digest: str) -> Workflow:
        return await self.store.workflow(digest)

    async def close(self) -> None:
        logging.getLogger().removeHandler(self.logs)
        await self.executor.close()
