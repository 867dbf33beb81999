"""What a finished step leaves: its outputs checked and encoded, findings and document updates
recorded, artifacts filed in the blob store; server paths never shown to API users."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import attrs

from paperchain_sdk import (
    Artifact,
    DocumentUpdate,
    Findings,
    InputError,
    Prediction,
    Result,
)

from ..documents import now
from .state import RunState
from .workflow import Step


class Results:
    def __init__(self, kernel):
        self.k = kernel
        data_dir = Path(kernel.data_dir)
        self._data_prefixes = tuple({str(data_dir.absolute()) + os.sep, str(data_dir.resolve()) + os.sep})

    async def absorb(self, entry, run: RunState, step: Step, result) -> tuple[dict, str]:
        """Record what a component returned; return its outputs and their JSON."""
        kind = entry.kind
        if kind == "exporter":
            if not isinstance(result, Artifact):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an exporter must return an Artifact")
            outputs = await self.store_artifact(run, step, result)
        elif kind == "analyzer":
            if not isinstance(result, Findings):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an analyzer must return Findings")
            outputs = dict(result.data)
            self.record_findings(run, step, result.data, result.summary)
        elif kind == "model":
            if not isinstance(result, Prediction):
                raise TypeError(f"{step.uses} returned {type(result).__name__}; a model must return a Prediction")
            outputs = attrs.asdict(result)
        else:
            if result is None:
                result = {}
            if isinstance(result, Result):
                outputs = dict(result.outputs)
                stored = [await self.store_artifact(run, step, a) for a in result.artifacts]
                if stored:
                    outputs["artifacts"] = stored
                if result.document is not None:
                    self.apply_update(run, result.document)
            elif isinstance(result, dict):
                outputs = result
            else:
                raise TypeError(f"{step.uses} returned {type(result).__name__}; an action returns a dict or a Result")
        outputs = self.hide_server_paths(outputs)
        try:
            encoded = json.dumps(outputs)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{step.uses} returned outputs that are not JSON-serialisable: {exc}") from None
        return outputs, encoded

    def record_findings(self, run: RunState, step: Step, data: dict, summary: str) -> None:
        assert run.document is not None  # analyzers run only on runs with a document (check_scope)
        self.k.journal.upsert("findings", {
            "document_id": run.document.id, "analyzer": step.uses, "run_id": run.id, "step_id": step.id,
            "data": json.dumps(data), "summary": summary, "created": now(),
        })
        run.document = attrs.evolve(run.document, findings={**run.document.findings, step.uses: dict(data)})

    def apply_update(self, run: RunState, update: DocumentUpdate) -> None:
        if run.document is None:
            raise InputError("the step asked to update the run's document, but this run has no document")
        doc = run.document
        run.document = attrs.evolve(
            doc,
            text=update.text if update.text is not None else doc.text,
            metadata={**doc.metadata, **update.metadata},
            tags=tuple(dict.fromkeys((*doc.tags, *update.tags))),
        )
        self.k.documents.update(run.document)

    async def store_artifact(self, run: RunState, step: Step, artifact: Artifact) -> dict:
        blobs = self.k.blobs
        if artifact.data is None and artifact.sha256 and artifact.size is not None \
                and await asyncio.to_thread(blobs.exists, artifact.sha256):
            # In the blob store already (a Celery worker put it there): recorded by reference.
            return self.record_artifact(run, step, artifact.name, artifact.media_type, artifact.sha256, artifact.size)
        if artifact.data is not None:
            digest, size, _ = await asyncio.to_thread(blobs.put_bytes, artifact.data)
        else:
            digest, size, _ = await asyncio.to_thread(blobs.put_file, artifact.path, move=True)
        return self.record_artifact(run, step, artifact.name, artifact.media_type, digest, size)

    def record_artifact(self, run: RunState, step: Step, name: str, media_type: str, digest: str, size: int) -> dict:
        """Record an artifact of a step by reference to its blob; return how outputs show it."""
        self.k.journal.upsert("artifacts", {
            "run_id": run.id, "step_id": step.id, "name": name, "sha256": digest,
            "media_type": media_type, "size": size, "document_id": run.document_id, "created": now(),
        })
        # By name and digest, never the blob's path on the server (outputs are shown through the API).
        return {"name": name, "media_type": media_type, "sha256": digest, "size": size,
                "download": f"/api/v1/runs/{run.id}/artifacts/{step.id}/{name}"}

    def hide_server_paths(self, value):
        """Outputs and errors are shown to API users: paths inside the data directory become relative to it."""
        if isinstance(value, str):
            for prefix in self._data_prefixes:
                if prefix in value:
                    value = value.replace(prefix, "")
            return value
        if isinstance(value, dict):
            return {k: self.hide_server_paths(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.hide_server_paths(v) for v in value]
        return value
