"""The step-result cache: a deterministic component's step is not run again on the same input.

A step is cacheable when its component's spec says ``deterministic=True`` (and has no side
effects), the step does not say ``cache = false``, and it is not a batch-scoped exporter. Its key
is the SHA-256 of canonical JSON over: the component's name, kind and plugin version, its full
settings for this step, the document's bytes (their SHA-256), the run's inputs (for actions), and
what came before it: each needed step's own cache key, or where a needed step was not cacheable,
its outputs and the document's text, metadata and tags as the step sees them (the same goes for
a document analyzer or exporter that needs nothing, which reads what earlier runs left on the
document). An exporter's key also covers the document's findings.

An entry keeps the step's outputs, its artifacts by reference to their content-addressed blobs,
an analyzer's findings and an action's document update, so reusing it leaves the run as running
the step would have. Entries belong to the batch's tenant: one tenant never reuses another's.
``cache-ttl`` bounds how old an entry may be.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import attrs

from paperchain_sdk import DocumentUpdate

from .state import RunState
from .workflow import Step

_VIEW_KINDS = ("analyzer", "exporter")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


class StepCache:
    def __init__(self, kernel, store, results):
        self.k = kernel
        self.store = store
        self.results = results

    @staticmethod
    def cacheable(entry, step: Step) -> bool:
        spec = entry.spec
        return (step.cache and getattr(spec, "deterministic", False) and not spec.side_effects
                and getattr(spec, "scope", "document") == "document")

    def key(self, entry, run: RunState, step: Step, options: Any) -> str:
        doc = run.document
        material: dict[str, Any] = {
            "component": entry.spec.name, "kind": entry.kind, "version": entry.plugin.version,
            "plugin": entry.plugin.name, "settings": options, "document": doc.sha256 if doc else None,
        }
        if entry.kind == "action":
            material["inputs"] = run.inputs
        needs: dict[str, Any] = {}
        sees_view = not step.needs and entry.kind in _VIEW_KINDS
        for name in step.needs:
            upstream = run.steps[name]
            if upstream.cache_key:
                needs[name] = upstream.cache_key
            else:
                # Its artifacts' download links name this run: not part of what it answered.
                outputs = upstream.outputs_json.replace(f"/api/v1/runs/{run.id}/", "/api/v1/runs/-/")
                needs[name] = {"status": upstream.status, "outputs": hashlib.sha256(outputs.encode()).hexdigest()}
                sees_view = True
        material["needs"] = needs
        if doc is not None and sees_view:
            material["view"] = {"text": doc.text, "metadata": doc.metadata, "tags": list(doc.tags)}
        if doc is not None and entry.kind == "exporter":
            material["findings"] = doc.findings
        return _digest(material)

    async def reuse(self, run: RunState, step: Step, key: str) -> tuple[dict, str] | None:
        """Apply a stored result of ``key`` to this run (outputs, artifacts, findings, document
        update); None when there is none of the run's tenant, young enough, with its blobs."""
        oldest = time.time() - step.cache_ttl if step.cache_ttl else 0.0
        row = await self.store.cached(run.tenant, key, oldest)
        if row is None:
            return None
        artifacts = json.loads(row.artifacts or "[]")
        if not all(self.k.blobs.exists(a["sha256"]) for a in artifacts):
            return None  # a blob was deleted since: run the step again
        encoded = row.outputs.replace(f"/api/v1/runs/{row.source_run}/artifacts/{row.source_step}/",
                                         f"/api/v1/runs/{run.id}/artifacts/{step.id}/")
        for artifact in artifacts:
            self.results.record_artifact(run, step, artifact["name"], artifact["media_type"], artifact["sha256"],
                                         artifact["size"])
        if row.findings:
            found = json.loads(row.findings)
            self.results.record_findings(run, step, found["data"], found["summary"])
        if row.document_update:
            self.results.apply_update(run, DocumentUpdate(**json.loads(row.document_update)))
        return json.loads(encoded), encoded

    def remember(self, entry, run: RunState, step: Step, key: str, result: Any, outputs: dict, encoded: str) -> None:
        """Keep a step's fresh result under ``key`` for later runs of the tenant."""
        if entry.kind == "exporter":
            artifacts = [outputs]
        else:
            artifacts = outputs.get("artifacts", []) if hasattr(result, "artifacts") else []
        update = getattr(result, "document", None)
        findings = {"data": result.data, "summary": result.summary} if entry.kind == "analyzer" else None
        self.k.journal.upsert("step_cache", {
            "tenant": run.tenant, "key": key, "component": entry.spec.name, "version": entry.plugin.version,
            "outputs": encoded,
            "artifacts": json.dumps([{k: a[k] for k in ("name", "media_type", "sha256", "size")} for a in artifacts]),
            "document_update": json.dumps(attrs.asdict(update)) if update is not None else None,
            "findings": json.dumps(findings) if findings is not None else None,
            "source_run": run.id, "source_step": step.id, "created": time.time(),
        })
