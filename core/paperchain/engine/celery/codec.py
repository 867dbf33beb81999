"""A step attempt's arguments and result as JSON (cattrs), and its failure as a message.

Never a document's bytes: a document travels as its record without ``path``, and the worker reads
the bytes from the blob store into a plaintext file of its own (``blobs.path``). An artifact's bytes
go the other way the same way: the worker puts them in the blob store and the result names them by
SHA-256, so the server records the artifact without handling its bytes (``results.store_artifact``).
"""

from __future__ import annotations

import asyncio
import json
import traceback
from typing import Any

import attrs
import cattrs

from paperchain_sdk import (
    Artifact,
    Batch,
    BatchItem,
    Document,
    DocumentUpdate,
    Findings,
    PaperchainError,
    Prediction,
    Result,
    RunContext,
)
from paperchain_sdk.retry import retryable

_converter = cattrs.Converter()
STORED = "blob store"  # an Artifact's ``path`` when its bytes are in the blob store under ``sha256``


class RemoteStepError(PaperchainError):
    """A step's failure on a worker, as it recorded it: its message, traceback and retryable flag."""

    def __init__(self, message: str, detail: str | None = None, can_retry: bool = True):
        super().__init__(message)
        self.detail = detail
        self.retryable = can_retry

    def __reduce__(self):
        return (self.__class__, (self.message, self.detail, self.retryable))


# -- arguments (server -> database -> worker) -------------------------------------------------------

def _document(doc: Document | None) -> dict | None:
    if doc is None:
        return None
    record = attrs.asdict(doc, recurse=False)
    record.pop("path")
    record["tags"] = list(doc.tags)
    return record


def _batch(batch: Batch | None) -> dict | None:
    if batch is None:
        return None
    return {"id": batch.id, "workflow": batch.workflow, "items": [
        {"run_id": i.run_id, "status": i.status, "document": _document(i.document), "outputs": dict(i.outputs),
         "artifacts": [_stored(a) for a in i.artifacts]} for i in batch.items]}


def _stored(artifact: Artifact) -> dict:
    """An artifact already in the blob store, by reference."""
    if artifact.sha256 is None:
        raise TypeError(f"artifact {artifact.name!r} is not in the blob store; it cannot be sent to a worker")
    return {"name": artifact.name, "media_type": artifact.media_type, "sha256": artifact.sha256,
            "size": artifact.size, "metadata": dict(artifact.metadata)}


def _options(options: Any, defaults: Any) -> Any:
    """A settings object as the values that differ from ``defaults`` (the component's settings from
    plugins.toml alone): what a step's ``with`` changed. The worker lays them over its own plugins.toml,
    so deployment-wide settings (a password, an API key) stay in the configuration, out of the database."""
    if not attrs.has(type(options)):
        return options
    values = _converter.unstructure(options)
    base = _converter.unstructure(defaults) if attrs.has(type(defaults)) else {}
    return {key: value for key, value in values.items() if key not in base or base[key] != value}


def encode_args(method: str, args: tuple, defaults: Any = None) -> str:
    """The JSON payload of a method's arguments, as ``RunLoop.attempt`` built them; ``defaults`` is the
    component's settings object without the step's ``with`` (see ``_options``)."""
    if method == "run":
        ctx, options = args
        payload: dict[str, Any] = {"context": {
            "run_id": ctx.run_id, "step_id": ctx.step_id, "workflow": ctx.workflow, "attempt": ctx.attempt,
            "idempotency_key": ctx.idempotency_key, "document": _document(ctx.document), "batch": _batch(ctx.batch),
            "inputs": dict(ctx.inputs), "tenant": ctx.tenant}}
    elif method == "export_batch":
        batch, options = args
        payload = {"batch": _batch(batch)}
    elif method == "predict":
        (options,) = args
        payload = {}
    else:
        document, options = args
        payload = {"document": _document(document)}
    payload["options"] = _options(options, defaults)
    return json.dumps(payload)


class Materializer:
    """Builds the arguments back on a worker: documents and artifacts as plaintext files of this
    worker's own blob store, the component's settings class from its options."""

    def __init__(self, kernel):
        self.k = kernel

    async def _file(self, name: str) -> str:
        path = await asyncio.to_thread(self.k.blobs.path, name)
        if not path.exists():
            from paperchain_sdk import NotFoundError

            raise NotFoundError(f"blob {name} is not in this worker's blob store.",
                                hint="every worker must use the same blob_url (and master key) as the servers")
        return str(path)

    async def document(self, record: dict | None) -> Document | None:
        if record is None:
            return None
        return Document(path=await self._file(record["id"]), **record)

    async def batch(self, record: dict | None) -> Batch | None:
        if record is None:
            return None
        items = []
        for item in record["items"]:
            artifacts = tuple([Artifact(path=await self._file(a["sha256"]), **a) for a in item["artifacts"]])
            items.append(BatchItem(run_id=item["run_id"], status=item["status"],
                                   document=await self.document(item["document"]), outputs=item["outputs"],
                                   artifacts=artifacts))  # type: ignore[arg-type]  # mypy and attrs' converter=tuple
        return Batch(id=record["id"], workflow=record["workflow"], items=tuple(items))  # type: ignore[arg-type]

    async def args(self, component: str, method: str, payload: str, work_dir: str) -> tuple:
        data = json.loads(payload)
        entry = self.k.registry.get(component)
        raw = data["options"]
        options = raw if entry.kind == "model" else self.k.registry.settings_for(
            entry, raw, where=f"the options of a {component} step sent to this worker")
        if method == "run":
            c = data["context"]
            ctx = RunContext(run_id=c["run_id"], step_id=c["step_id"], workflow=c["workflow"], attempt=c["attempt"],
                             idempotency_key=c["idempotency_key"], document=await self.document(c["document"]),
                             batch=await self.batch(c["batch"]), inputs=c["inputs"], work_dir=work_dir,
                             tenant=c["tenant"])
            return ctx, options
        if method == "export_batch":
            return await self.batch(data["batch"]), options
        if method == "predict":
            return (options,)
        return await self.document(data["document"]), options


# -- results (worker -> database -> server) ---------------------------------------------------------

async def encode_result(blobs, result: Any) -> dict:
    """The component's return value as JSON, artifacts put in the blob store first."""

    async def artifact(a: Artifact) -> dict:
        if a.data is not None:
            digest, size, _ = await asyncio.to_thread(blobs.put_bytes, a.data)
        else:
            digest, size, _ = await asyncio.to_thread(blobs.put_file, a.path, move=True)
        return {"name": a.name, "media_type": a.media_type, "sha256": digest, "size": size, "metadata": dict(a.metadata)}

    if result is None or isinstance(result, dict):
        return {"kind": "outputs", "outputs": result}
    if isinstance(result, Result):
        update = None if result.document is None else {
            "text": result.document.text, "metadata": dict(result.document.metadata), "tags": list(result.document.tags)}
        return {"kind": "result", "outputs": dict(result.outputs), "document": update,
                "artifacts": [await artifact(a) for a in result.artifacts]}
    if isinstance(result, Artifact):
        return {"kind": "artifact", "artifact": await artifact(result)}
    if isinstance(result, Findings):
        return {"kind": "findings", "data": dict(result.data), "summary": result.summary}
    if isinstance(result, Prediction):
        return {"kind": "prediction", "prediction": _converter.unstructure(result)}
    # Said on the server the way the engine says it for a local step (results.absorb).
    return {"kind": "other", "type": type(result).__name__}


def decode_result(data: dict, component: str) -> Any:
    kind = data["kind"]
    if kind == "outputs":
        return data["outputs"]
    if kind == "result":
        update = data["document"]
        return Result(outputs=data["outputs"], artifacts=tuple(_reference(a) for a in data["artifacts"]),  # type: ignore[misc]
                      document=None if update is None else DocumentUpdate(**update))
    if kind == "artifact":
        return _reference(data["artifact"])
    if kind == "findings":
        return Findings(data=data["data"], summary=data["summary"])
    if kind == "prediction":
        return _converter.structure(data["prediction"], Prediction)
    raise RemoteStepError(f"{component} returned {data['type']}; a step returns a dict or a Result (an action), "
                          "an Artifact (an exporter), Findings (an analyzer) or a Prediction (a model)", can_retry=False)


def _reference(record: dict) -> Artifact:
    return Artifact(path=STORED, **record)


def describe(exc: BaseException) -> tuple[str, str | None, bool]:
    """A failure as the engine records it: message, traceback (unexpected errors only), retryable."""
    if isinstance(exc, PaperchainError):
        return str(exc), getattr(exc, "detail", None), retryable(exc)
    if type(exc).__name__ == "ProcessExpired":
        return f"the worker process died: {exc}", None, retryable(exc)
    return f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)), retryable(exc)
