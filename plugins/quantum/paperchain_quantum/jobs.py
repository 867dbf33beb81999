"""Background quantum jobs for the API: one row per job in ``quantum_jobs``, owned by a tenant.

A job is validated when it is submitted (bad input answers 400 there, naming the field), then
runs in a worker thread; its status, result and histogram are read back by its tenant only.
Events ``quantum.job.succeeded`` / ``quantum.job.failed`` carry the tenant, so only that tenant's
subscribers hear them. Jobs still queued or running when the process stopped are marked failed
at the next start (a simulation is not resumable). The table lives in the host's plugin storage
(SQLite or PostgreSQL), created by the plugin's Alembic migrations (``migrations/versions``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time

import attrs
import sqlalchemy as sa

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("quantum", migrations="paperchain_quantum:migrations")
jobs_table = SCHEMA.table(
    "quantum_jobs",
    sa.Column("id", sa.Text, primary_key=True), sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False), sa.Column("request", sa.Text, nullable=False),
    sa.Column("result", sa.Text), sa.Column("histogram", sa.LargeBinary), sa.Column("error", sa.Text),
    sa.Column("created", sa.Float, nullable=False), sa.Column("finished", sa.Float),
    sa.Index("quantum_jobs_tenant", "tenant", "created"),
)


@attrs.define
class JobRequest:
    """A job: give ``circuit`` (OpenQASM 2.0, Cirq JSON or a JSON gate list, as text) or
    ``algorithm`` with its ``params``."""

    circuit: str | None = None
    format: str = attrs.field(default="auto", validator=attrs.validators.in_(("auto", "qasm", "cirq-json", "gates")))
    shots: int = attrs.field(default=1000, validator=[attrs.validators.ge(1), attrs.validators.le(100_000)])
    backend: str = attrs.field(default="paperchain", validator=attrs.validators.in_(("paperchain", "cirq")))
    algorithm: str | None = None
    params: dict = attrs.field(factory=dict)
    seed: int | None = None


class JobStore:
    def __init__(self, kernel, *, max_qubits: int = 24, max_shots: int = 100_000, max_gates: int = 1_000_000,
                 time_limit: float = 600.0, max_circuit_bytes: int = 1 << 20):
        self.kernel = kernel
        self.max_qubits = max_qubits
        self.max_shots = max_shots
        self.max_gates = max_gates
        self.time_limit = time_limit
        self.max_circuit_bytes = max_circuit_bytes
        self.store = None  # the host's storage handle, once open()
        self.tasks: set[asyncio.Task] = set()

    async def open(self) -> JobStore:
        self.store = await self.kernel.storage(SCHEMA)
        await self._update(jobs_table.c.status.in_(("queued", "running")), status="failed", finished=time.time(),
                           error="the server stopped while the job ran; submit it again")
        return self

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    # -- submit ------------------------------------------------------------------------------

    def validate(self, request: JobRequest):
        """The work to run (a callable), or InputError naming the field at fault."""
        from . import service
        from .algorithms import ALGORITHMS

        if (request.circuit is None) == (request.algorithm is None):
            raise InputError("give exactly one of circuit or algorithm.",
                             hint='send {"circuit": "OPENQASM 2.0; ..."} or {"algorithm": "shor", "params": {"number": 15}}')
        if request.algorithm is not None:
            if request.algorithm not in ALGORITHMS:
                raise InputError(f"algorithm {request.algorithm!r} is unknown.", hint=f"use one of {', '.join(ALGORITHMS)}")
            accepted = inspect.signature(ALGORITHMS[request.algorithm][0]).parameters
            unknown = sorted(set(request.params) - set(accepted))
            if unknown:
                raise InputError(f"params: {request.algorithm} takes no parameter {', '.join(unknown)}.",
                                 hint=f"it takes {', '.join(accepted)}")
            return "algorithm", lambda: service.run_algorithm(request.algorithm, dict(request.params))
        if len(request.circuit.encode()) > self.max_circuit_bytes:
            raise InputError(f"circuit is longer than {self.max_circuit_bytes} bytes.")
        from . import circuits

        if request.shots > self.max_shots:
            raise InputError(f"shots is {request.shots}; jobs may take at most {self.max_shots}.")
        circuit = circuits.load(request.circuit, request.format, source="circuit")
        service.check_bounds(circuit, max_qubits=self.max_qubits, max_gates=self.max_gates, field="circuit")
        return "circuit", lambda: service.run_circuit(circuit, shots=request.shots, backend=request.backend,
                                                      max_qubits=self.max_qubits, seed=request.seed,
                                                      max_gates=self.max_gates, time_limit=self.time_limit)

    async def submit(self, request: JobRequest, *, tenant: str, by: str) -> dict:
        kind, work = await asyncio.to_thread(self.validate, request)
        job_id = "qj_" + secrets.token_hex(8)
        await self.store.write(sa.insert(jobs_table).values(
            id=job_id, tenant=tenant, created_by=by, kind=kind, status="queued",
            request=json.dumps(attrs.asdict(request)), created=time.time()))
        task = asyncio.get_running_loop().create_task(self._run(job_id, tenant, work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"job": job_id, "status": "queued"}

    async def _run(self, job_id: str, tenant: str, work) -> None:
        from .results import histogram_png

        try:
            await self._update(jobs_table.c.id == job_id, status="running")
            result = await asyncio.to_thread(work)
            counts = result.get("counts") or {}
            if counts and all(isinstance(v, dict) for v in counts.values()):
                counts = next(iter(counts.values()))  # a circuit's first measurement key
            png = await asyncio.to_thread(histogram_png, counts, job_id) if counts else None
            await self._update(jobs_table.c.id == job_id, status="succeeded", result=json.dumps(result), histogram=png,
                               finished=time.time())
            await self.kernel.emit("quantum.job.succeeded", job_id, {"job": job_id, "tenant": tenant})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the job records why it failed
            message = str(exc) if hasattr(exc, "hint") else f"{type(exc).__name__}: {exc}"
            await self._update(jobs_table.c.id == job_id, status="failed", error=message, finished=time.time())
            await self.kernel.emit("quantum.job.failed", job_id, {"job": job_id, "tenant": tenant, "error": message})

    async def _update(self, where, **values) -> None:
        await self.store.write(sa.update(jobs_table).where(where).values(**values))

    # -- read (the caller's tenant only) -----------------------------------------------------

    _FIELDS = ("id", "kind", "status", "request", "error", "created", "finished", "created_by")

    @staticmethod
    def _job(row, with_result: bool) -> dict:
        job = {"job": row.id, "kind": row.kind, "status": row.status, "request": json.loads(row.request),
               "error": row.error, "created": row.created, "finished": row.finished, "created_by": row.created_by}
        if with_result:
            job["result"] = json.loads(row.result) if row.result else None
        return job

    async def get(self, job_id: str, tenant: str, *, with_result: bool = True) -> dict:
        columns = [jobs_table.c[name] for name in self._FIELDS + (("result",) if with_result else ())]
        rows = await self.store.read(sa.select(*columns).where(jobs_table.c.id == job_id, jobs_table.c.tenant == tenant))
        if not rows:
            raise NotFoundError(f"There is no quantum job {job_id}.", hint="list your jobs at /api/v1/quantum/jobs")
        return self._job(rows[0], with_result)

    async def histogram(self, job_id: str, tenant: str) -> bytes:
        rows = await self.store.read(sa.select(jobs_table.c.histogram, jobs_table.c.status)
                                     .where(jobs_table.c.id == job_id, jobs_table.c.tenant == tenant))
        if not rows:
            raise NotFoundError(f"There is no quantum job {job_id}.", hint="list your jobs at /api/v1/quantum/jobs")
        if rows[0].histogram is None:
            raise NotFoundError(f"Quantum job {job_id} has no histogram ({rows[0].status}; only finished jobs with "
                                "counts have one).")
        return bytes(rows[0].histogram)

    async def list(self, tenant: str, limit: int = 50) -> list[dict]:
        columns = [jobs_table.c[name] for name in self._FIELDS]
        rows = await self.store.read(sa.select(*columns).where(jobs_table.c.tenant == tenant)
                                     .order_by(jobs_table.c.created.desc()).limit(limit))
        return [self._job(row, False) for row in rows]


def install(kernel, store: JobStore | None) -> None:
    """Keep ``kernel``'s job store in its plugin_state (None: forget it)."""
    state = kernel.plugin_state("quantum")
    if store is None:
        state.pop("jobs", None)
    else:
        state["jobs"] = store


def current(kernel) -> JobStore:
    """The job store of ``kernel``, opened at its start-up."""
    store = kernel.plugin_state("quantum").get("jobs")
    if store is None:
        from paperchain_sdk import MissingDependency

        raise MissingDependency("the quantum plugin has not started.", hint="enable the quantum plugin and restart")
    return store
