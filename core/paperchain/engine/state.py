"""What the engine holds of a run while it runs it: the run, its steps, and their statuses."""

from __future__ import annotations

import json
import uuid

import attrs

from paperchain_sdk import Batch, Document

from ..documents import now
from .workflow import Workflow

FINAL = {"succeeded", "failed", "skipped"}
UNFINISHED_RUN = ("queued", "running")
RETRYABLE_STEP = ("failed", "skipped", "cancelled")
DOCUMENT_ENTRY = "document:"  # a batch entry naming a stored document instead of a file


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def reason(exc: BaseException) -> str:
    """An exception as one line for a run's or step's error: its type, then its message."""
    text = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {text[:500]}"


@attrs.define
class StepState:
    id: str
    uses: str
    status: str = "pending"
    attempts: int = 0
    outputs: dict = attrs.Factory(dict)
    outputs_json: str = "{}"  # encoded once, when the step finishes
    error: str | None = None
    error_detail: str | None = None
    started: str | None = None
    finished: str | None = None
    continued: bool = False
    cached: bool = False  # its outputs came from the step-result cache, not from running it
    cache_key: str | None = None  # the key it was looked up and stored under (None: not cacheable)

    def ok(self) -> bool:
        return self.status == "succeeded" or (self.status == "failed" and self.continued)


@attrs.define
class RunState:
    id: str
    batch_id: str
    seq: int
    kind: str  # document | inputs | batch
    workflow: Workflow
    document_id: str | None
    inputs: dict
    status: str = "queued"
    created: str = attrs.Factory(now)
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    source: str = ""
    steps: dict[str, StepState] = attrs.Factory(dict)
    document: Document | None = None
    batch: Batch | None = None
    tenant: str = ""  # the batch's tenant, read once when the run is loaded

    def row(self) -> dict:
        return {
            "id": self.id, "batch_id": self.batch_id, "seq": self.seq, "kind": self.kind,
            "workflow": self.workflow.name, "workflow_hash": self.workflow.hash, "document_id": self.document_id,
            "source": self.source, "status": self.status, "inputs": json.dumps(self.inputs), "created": self.created,
            "started": self.started, "finished": self.finished, "error": self.error,
            "idempotency_key": f"{self.batch_id}:{self.seq}",
        }

    def event_data(self) -> dict:
        data = {"workflow": self.workflow.name, "batch": self.batch_id, "status": self.status, "document": self.document_id}
        if self.error:
            data["error"] = self.error
        return data
