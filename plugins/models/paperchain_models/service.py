"""The plugin's per-kernel service: registry, inference, training jobs and recommendations.

``paperchain_startup`` builds one for each running kernel and keeps it in that kernel's
``plugin_state``; components, pages and routes reach it through :func:`service_for`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConfigError, InputError, NotFoundError

from .inference import Predictor, SessionCache
from .registry import Registry, check_name, now
from .storage import SCHEMA
from .storage import jobs as jobs_table


def service_for(kernel) -> ModelService:
    """The models service of ``kernel``, kept in its plugin_state (routes reach the kernel through
    ``kernel_of(request)``, pages through ``ui.kernel``, components through ``self.kernel``)."""
    found = kernel.plugin_state("models").get("service")
    if found is None:
        raise ConfigError("the models plugin has not started with this kernel.",
                          hint="enable the models plugin and restart")
    return found


def install(kernel, service: ModelService) -> None:
    kernel.plugin_state("models")["service"] = service


def uninstall(kernel) -> None:
    """Close and forget ``kernel``'s service."""
    service = kernel.plugin_state("models").pop("service", None)
    if service is not None:
        service.close()


def run_blocking(loop: asyncio.AbstractEventLoop, coroutine) -> Any:
    """Run ``coroutine`` on ``loop`` from a worker thread (training's progress) and wait for it.
    Only for writes: they run in the database's own writer thread (SQLite) or natively (PostgreSQL),
    never in the default executor a blocked worker thread may be holding."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop or not loop.is_running():
        coroutine.close()
        raise RuntimeError("a blocking models call needs the kernel's loop running in another thread")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


class ModelService:
    def __init__(self, kernel: Any, *, intra_op_threads: int = 1, inter_op_threads: int = 1, cache_size: int = 16):
        self.kernel = kernel
        self.sessions = SessionCache(intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
                                     size=cache_size)
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()
        self.jobs: dict[str, asyncio.Task] = {}
        self._recommender = None

    async def open(self) -> ModelService:
        """Take our storage handle (the host runs our migrations on the first call)."""
        self.store = await self.kernel.storage(SCHEMA)
        self.registry = Registry(self.store, self.kernel.blobs)
        self.predictor = Predictor(self.registry, self.sessions)
        return self

    @property
    def recommender(self):
        if self._recommender is None:
            from .recommend.service import Recommender

            self._recommender = Recommender(self.store, self.kernel)
        return self._recommender

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()

    # -- training jobs ---------------------------------------------------------------------------------

    async def start_training(self, name: str, request: dict, *, by: str = "", tenant: str = "") -> str:
        """Record a job, run it in the background (a worker thread), answer its id at once.

        The job, the version it trains and the labeled documents it reads are ``tenant``'s.
        """
        from .training import require_training_libraries

        check_name(name)
        require_training_libraries()
        job_id = uuid.uuid4().hex
        await self.store.write(sa.insert(jobs_table).values(id=job_id, model=name, task=request.get("task", "text"),
                                                            status="queued", created=now(), created_by=by,
                                                            tenant=tenant))
        task = self.loop.create_task(self._train(job_id, name, request, by, tenant))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.jobs[job_id] = task
        task.add_done_callback(lambda _t: self.jobs.pop(job_id, None))
        return job_id

    async def train_now(self, name: str, request: dict, *, by: str = "", tenant: str = "") -> dict:
        job_id = await self.start_training(name, request, by=by, tenant=tenant)
        task = self.jobs.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        return await self.job(job_id, tenant=tenant)

    async def _train(self, job_id: str, name: str, request: dict, by: str, tenant: str) -> None:
        def progress(fraction: float, message: str) -> None:  # in the training thread: committed before it goes on
            run_blocking(self.loop, self._set_job(job_id, progress=fraction, message=message, status="running"))
            # "tenant" in an event's data: the kernel shows it to that tenant's subscribers alone
            self.loop.call_soon_threadsafe(self._emit, "models.training.progress", job_id,
                                           {"job": job_id, "model": name, "progress": fraction, "message": message,
                                            "tenant": tenant})

        try:
            await self._set_job(job_id, status="running")
            data = await self._training_data(request, tenant)
            trained, source = await asyncio.to_thread(self._fit, request, data, progress)
            version = await self._register(name, request, trained, source, by, tenant)
            await self._set_job(job_id, status="succeeded", progress=1.0, message="done", version=version.version,
                                finished=now())
            await self.kernel.emit("models.training.succeeded", job_id,
                                   {"job": job_id, "model": name, "version": version.version, "tenant": tenant})
        except asyncio.CancelledError:
            await asyncio.shield(self._set_job(job_id, status="cancelled", finished=now()))
            raise
        except Exception as exc:  # noqa: BLE001 - the job records why it failed
            message = str(exc) if hasattr(exc, "hint") else f"{type(exc).__name__}: {exc}"
            await self._set_job(job_id, status="failed", error=message, finished=now())
            await self.kernel.emit("models.training.failed", job_id,
                                   {"job": job_id, "model": name, "error": message, "tenant": tenant})

    def _emit(self, type_: str, subject: str, data: dict) -> None:
        task = self.loop.create_task(self.kernel.emit(type_, subject, data))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _training_data(self, request: dict, tenant: str) -> dict:
        task = request.get("task", "text")
        if task != "text":
            return request
        if "texts" in request:
            return request
        field = request.get("field", "tags")
        # Only the tenant's own documents: a model's vocabulary holds their words, and the
        # deployment's shared models ('' ) learn from no tenant's.
        documents = await self.kernel.documents.labeled(field=field, tenant=tenant)
        texts, labels, ids = [], [], []
        for doc in documents:
            label = doc.tags[0] if field == "tags" else doc.metadata.get(field[9:])
            if label in (None, "") or not isinstance(label, (str, int, float, bool)):
                continue
            texts.append(doc.text)
            labels.append(str(label))
            ids.append(doc.id)
        minimum = int(request.get("min_documents", 6))
        if len(texts) < minimum:
            raise InputError(f"only {len(texts)} documents are labeled in {field!r}; training needs {minimum}.",
                             hint="label more documents (tags or metadata) and give them text")
        return {**request, "texts": texts, "labels": labels, "documents": ids}

    def _fit(self, request: dict, data: dict, progress):
        """Train (blocking, in a worker thread): the trained model and what it learned from."""
        from . import training

        task = request.get("task", "text")
        seed = int(request.get("seed", 0))
        if task == "text":
            texts, labels = data.get("texts"), data.get("labels")
            if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels):
                raise InputError("texts and labels must be lists of the same length.", hint="one label per text")
            trained = training.train_text(texts, labels, algorithm=request.get("algorithm", "logistic"),
                                          test_size=float(request.get("test_size", 0.25)),
                                          cv_folds=int(request.get("cv_folds", 3)), seed=seed, progress=progress)
            source = {"field": request.get("field", ""), "documents": data.get("documents", [])}
        else:
            records = training.read_records(data.get("records"), data.get("csv"))
            trained = training.train_tabular(records, task=task, target=request.get("target"),
                                             features=request.get("features"),
                                             algorithm=request.get("algorithm", "linear"),
                                             clusters=int(request.get("clusters", 3)),
                                             test_size=float(request.get("test_size", 0.25)),
                                             cv_folds=int(request.get("cv_folds", 3)), seed=seed, progress=progress)
            source = {"records": len(records)}
        return trained, source

    async def _register(self, name: str, request: dict, trained, source: dict, by: str, tenant: str):
        from .onnx_io import describe_onnx

        registry = self.registry
        inputs, outputs = await asyncio.to_thread(describe_onnx, trained.onnx)
        version = await registry.add(name, trained.onnx, kind=trained.kind, task=trained.task, inputs=inputs,
                                     outputs=outputs, labels=trained.labels, metrics=trained.metrics,
                                     training={**trained.training, "data": source}, created_by=by, tenant=tenant)
        if request.get("promote"):
            version = await registry.promote(name, version.version, "production", by=by, tenant=tenant)
        return version

    async def _set_job(self, job_id: str, **fields) -> None:
        await self.store.write(sa.update(jobs_table).where(jobs_table.c.id == job_id).values(**fields))

    _JOB_FIELDS = ("id", "model", "task", "status", "progress", "message", "version", "error", "created", "finished",
                   "created_by", "tenant")

    async def job(self, job_id: str, *, tenant: str = "") -> dict:
        """A training job; a tenant's caller sees its own only ('': the operator, every one)."""
        rows = await self.store.read(sa.select(*(jobs_table.c[k] for k in self._JOB_FIELDS))
                                     .where(jobs_table.c.id == job_id))
        if not rows or (tenant and rows[0].tenant != tenant):
            raise NotFoundError(f"There is no training job {job_id!r}.", hint="use the id the train call answered")
        return dict(rows[0]._mapping)
