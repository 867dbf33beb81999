"""The plugin's per-kernel service: registry, inference, training jobs and recommendations.

``paperchain_startup`` builds one for the running kernel; components and routes reach it through
:func:`current`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from paperchain_sdk import ConfigError, InputError, NotFoundError

from .inference import Predictor, SessionCache
from .registry import Registry, check_name, connect, now

_CURRENT: ModelService | None = None


def current() -> ModelService:
    if _CURRENT is None:
        raise ConfigError("the models plugin has no running kernel.",
                          hint="use models components inside `paperchain run` / `paperchain serve`")
    return _CURRENT


def install(service: ModelService | None) -> None:
    global _CURRENT
    _CURRENT = service


class ModelService:
    def __init__(self, kernel: Any, *, intra_op_threads: int = 1, inter_op_threads: int = 1, cache_size: int = 16):
        self.kernel = kernel
        self.sessions = SessionCache(intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
                                     size=cache_size)
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()
        self.jobs: dict[str, asyncio.Task] = {}
        self._recommender = None

    def open(self) -> ModelService:
        """Connect and create our tables (blocking: call it in a thread from async code)."""
        self.conn = connect(self.kernel.db_path)
        self.registry = Registry(self.conn, self.kernel.blobs)
        self.predictor = Predictor(self.registry, self.sessions)
        return self

    @property
    def recommender(self):
        if self._recommender is None:
            from .recommend.service import Recommender

            self._recommender = Recommender(self.conn, self.registry.lock, self.kernel)
        return self._recommender

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.conn.close()

    # -- training jobs ---------------------------------------------------------------------------------

    async def start_training(self, name: str, request: dict, *, by: str = "", tenant: str = "") -> str:
        """Record a job, run it in the background (a worker thread), answer its id at once.

        The job, the version it trains and the labeled documents it reads are ``tenant``'s.

        Like every write of ours from the event loop, the insert runs in a thread: the kernel's
        journal needs the loop to finish its own transaction, so blocking it would deadlock.
        """
        from .training import require_training_libraries

        check_name(name)
        require_training_libraries()
        job_id = uuid.uuid4().hex
        await asyncio.to_thread(self._insert_job, job_id, name, request.get("task", "text"), by, tenant)
        task = self.loop.create_task(self._train(job_id, name, request, by, tenant))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.jobs[job_id] = task
        task.add_done_callback(lambda _t: self.jobs.pop(job_id, None))
        return job_id

    def _insert_job(self, job_id: str, name: str, task: str, by: str, tenant: str) -> None:
        with self.registry.lock:
            self.conn.execute("INSERT INTO models_jobs (id, model, task, status, created, created_by, tenant) "
                              "VALUES (?, ?, ?, 'queued', ?, ?, ?)", (job_id, name, task, now(), by, tenant))

    async def train_now(self, name: str, request: dict, *, by: str = "", tenant: str = "") -> dict:
        job_id = await self.start_training(name, request, by=by, tenant=tenant)
        task = self.jobs.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        return await asyncio.to_thread(self.job, job_id, tenant=tenant)

    async def _train(self, job_id: str, name: str, request: dict, by: str, tenant: str) -> None:
        def progress(fraction: float, message: str) -> None:
            self._set_job(job_id, progress=fraction, message=message, status="running")
            # "tenant" in an event's data: the kernel shows it to that tenant's subscribers alone
            self.loop.call_soon_threadsafe(self._emit, "models.training.progress", job_id,
                                           {"job": job_id, "model": name, "progress": fraction, "message": message,
                                            "tenant": tenant})

        try:
            await asyncio.to_thread(self._set_job, job_id, status="running")
            data = await self._training_data(request, tenant)
            version = await asyncio.to_thread(self._fit_and_register, name, request, data, progress, by, tenant)
            await asyncio.to_thread(self._set_job, job_id, status="succeeded", progress=1.0, message="done",
                                    version=version.version, finished=now())
            await self.kernel.emit("models.training.succeeded", job_id,
                                   {"job": job_id, "model": name, "version": version.version, "tenant": tenant})
        except asyncio.CancelledError:
            self._set_job(job_id, status="cancelled", finished=now())  # the loop is stopping: no journal to wait on
            raise
        except Exception as exc:  # noqa: BLE001 - the job records why it failed
            message = str(exc) if hasattr(exc, "hint") else f"{type(exc).__name__}: {exc}"
            await asyncio.to_thread(self._set_job, job_id, status="failed", error=message, finished=now())
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

    def _fit_and_register(self, name: str, request: dict, data: dict, progress, by: str, tenant: str = ""):
        from . import training
        from .onnx_io import describe_onnx

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
        inputs, outputs = describe_onnx(trained.onnx)
        version = self.registry.add(name, trained.onnx, kind=trained.kind, task=trained.task, inputs=inputs,
                                    outputs=outputs, labels=trained.labels, metrics=trained.metrics,
                                    training={**trained.training, "data": source}, created_by=by, tenant=tenant)
        if request.get("promote"):
            version = self.registry.promote(name, version.version, "production", by=by, tenant=tenant)
        return version

    def _set_job(self, job_id: str, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.registry.lock:
            self.conn.execute(f"UPDATE models_jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))

    def job(self, job_id: str, *, tenant: str = "") -> dict:
        """A training job; a tenant's caller sees its own only ('': the operator, every one)."""
        with self.registry.lock:
            row = self.conn.execute("SELECT id, model, task, status, progress, message, version, error, created, "
                                    "finished, created_by, tenant FROM models_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (tenant and row[-1] != tenant):
            raise NotFoundError(f"There is no training job {job_id!r}.", hint="use the id the train call answered")
        keys = ("id", "model", "task", "status", "progress", "message", "version", "error", "created", "finished",
                "created_by", "tenant")
        return dict(zip(keys, row))
