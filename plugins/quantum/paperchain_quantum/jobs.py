"""Background quantum jobs for the API: one row per job in ``quantum_jobs``, owned by a tenant.

A job is validated when it is submitted (bad input answers 400 there, naming the field), then
runs in a worker thread; its status, result and histogram are read back by its tenant only.
Events ``quantum.job.succeeded`` / ``quantum.job.failed`` carry the tenant, so only that tenant's
subscribers hear them. Jobs still queued or running when the process stopped are marked failed
at the next start (a simulation is not resumable).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import sqlite3
import threading
import time

import attrs

from paperchain_sdk import InputError, NotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS quantum_jobs (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_by TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, request TEXT NOT NULL, result TEXT, histogram BLOB, error TEXT,
    created REAL NOT NULL, finished REAL
);
CREATE INDEX IF NOT EXISTS quantum_jobs_tenant ON quantum_jobs (tenant, created);
"""


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
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.tasks: set[asyncio.Task] = set()

    def open(self) -> JobStore:
        self.conn = sqlite3.connect(self.kernel.db_path, timeout=10, check_same_thread=False, isolation_level=None)
        with self.lock:
            self.conn.executescript(SCHEMA)
            self.conn.execute("UPDATE quantum_jobs SET status = 'failed', error = ?, finished = ? "
                              "WHERE status IN ('queued', 'running')",
                              ("the server stopped while the job ran; submit it again", time.time()))
        return self

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

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
        await asyncio.to_thread(self._execute, "INSERT INTO quantum_jobs (id, tenant, created_by, kind, status, request, "
                                "created) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                                (job_id, tenant, by, kind, json.dumps(attrs.asdict(request)), time.time()))
        task = asyncio.get_running_loop().create_task(self._run(job_id, tenant, work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"job": job_id, "status": "queued"}

    async def _run(self, job_id: str, tenant: str, work) -> None:
        from .results import histogram_png

        try:
            await asyncio.to_thread(self._execute, "UPDATE quantum_jobs SET status = 'running' WHERE id = ?", (job_id,))
            result = await asyncio.to_thread(work)
            counts = result.get("counts") or {}
            if counts and all(isinstance(v, dict) for v in counts.values()):
                counts = next(iter(counts.values()))  # a circuit's first measurement key
            png = await asyncio.to_thread(histogram_png, counts, job_id) if counts else None
            await asyncio.to_thread(self._execute, "UPDATE quantum_jobs SET status = 'succeeded', result = ?, "
                                    "histogram = ?, finished = ? WHERE id = ?",
                                    (json.dumps(result), png, time.time(), job_id))
            await self.kernel.emit("quantum.job.succeeded", job_id, {"job": job_id, "tenant": tenant})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the job records why it failed
            message = str(exc) if hasattr(exc, "hint") else f"{type(exc).__name__}: {exc}"
            await asyncio.to_thread(self._execute, "UPDATE quantum_jobs SET status = 'failed', error = ?, finished = ? "
                                    "WHERE id = ?", (message, time.time(), job_id))
            await self.kernel.emit("quantum.job.failed", job_id, {"job": job_id, "tenant": tenant, "error": message})

    def _execute(self, sql: str, args: tuple) -> None:
        with self.lock:
            self.conn.execute(sql, args)

    # -- read (the caller's tenant only) -----------------------------------------------------

    def get(self, job_id: str, tenant: str, *, with_result: bool = True) -> dict:
        with self.lock:
            row = self.conn.execute("SELECT id, kind, status, request, result, error, created, finished, created_by "
                                    "FROM quantum_jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no quantum job {job_id}.", hint="list your jobs at /api/v1/quantum/jobs")
        job = {"job": row[0], "kind": row[1], "status": row[2], "request": json.loads(row[3]), "error": row[5],
               "created": row[6], "finished": row[7], "created_by": row[8]}
        if with_result:
            job["result"] = json.loads(row[4]) if row[4] else None
        return job

    def histogram(self, job_id: str, tenant: str) -> bytes:
        with self.lock:
            row = self.conn.execute("SELECT histogram, status FROM quantum_jobs WHERE id = ? AND tenant = ?",
                                    (job_id, tenant)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no quantum job {job_id}.", hint="list your jobs at /api/v1/quantum/jobs")
        if row[0] is None:
            raise NotFoundError(f"Quantum job {job_id} has no histogram ({row[1]}; only finished jobs with counts have one).")
        return row[0]

    def list(self, tenant: str, limit: int = 50) -> list[dict]:
        with self.lock:
            ids = [r[0] for r in self.conn.execute("SELECT id FROM quantum_jobs WHERE tenant = ? ORDER BY created DESC "
                                                   "LIMIT ?", (tenant, limit))]
        return [self.get(i, tenant, with_result=False) for i in ids]


_CURRENT: JobStore | None = None


def install(store: JobStore | None) -> None:
    global _CURRENT
    _CURRENT = store


def current() -> JobStore:
    if _CURRENT is None:
        from paperchain_sdk import MissingDependency

        raise MissingDependency("the quantum plugin has not started.", hint="enable the quantum plugin and restart")
    return _CURRENT
