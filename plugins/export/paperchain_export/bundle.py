"""``export.bundle``: a batch as one ZIP file, streamed to disk, never held in memory.

Layout::

    001-invoice/invoice.pdf              the original (include_originals)
    001-invoice/artifacts/invoice.md     each artifact of that run
    002-receipt/...
    manifest.json

``manifest.json`` (``format`` names its version)::

    {
      "format": "paperchain.bundle/1",
      "batch": {"id": "...", "workflow": "..."},
      "counts": {"items": 2, "statuses": {"succeeded": 1, "failed": 1}},
      "items": [{
        "folder": "001-invoice", "run_id": "...", "status": "succeeded", "outputs": {...},
        "document": {"id", "name", "media_type", "size", "sha256", "tags", "metadata"} | null,
        "original": "001-invoice/invoice.pdf" | null,
        "artifacts": [{"name", "media_type", "size", "sha256", "path"}]
      }]
    }

Every file's SHA-256 is computed while it is copied, and an original whose bytes no longer match
its document id fails the export instead of bundling a changed file. Entries carry a fixed date,
so the same batch gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections import Counter
from typing import IO, Any

from paperchain_sdk import Artifact, Batch, BatchItem, Document, InputError
from paperchain_sdk.contracts import Exporter

from .names import batch_artifact_name, safe_name, unique
from .report import options_or_default, temporary_output
from .settings import BundleSettings

FORMAT = "paperchain.bundle/1"
_CHUNK = 1 << 20
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date ZIP can hold
# Already compressed: deflating them again costs time and saves nothing.
_STORED = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/zip", "application/pdf",
           "application/vnd.openxmlformats-officedocument")


def _entry(path: str, media_type: str, size: int | None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_STORED if media_type.startswith(_STORED) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.file_size = size or 0  # lets zipfile choose ZIP64 up front for files over 2 GiB
    return info


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(info, "w") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _document_record(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id, "name": doc.name, "media_type": doc.media_type, "size": doc.size,
        "sha256": doc.sha256, "tags": list(doc.tags), "metadata": doc.metadata,
    }


class _Writer:
    def __init__(self, zf: zipfile.ZipFile, options: BundleSettings):
        self.zf, self.options, self.folders = zf, options, set()

    def item(self, number: int, width: int, item: BatchItem) -> dict[str, Any]:
        doc = item.document
        stem = safe_name(doc.stem, doc.id[:12]) if doc else safe_name(item.run_id, "run")
        folder = unique(f"{number:0{width}d}-{stem}", self.folders)
        record: dict[str, Any] = {
            "folder": folder, "run_id": item.run_id, "status": item.status, "outputs": item.outputs,
            "document": _document_record(doc) if doc else None, "original": None, "artifacts": [],
        }
        taken = {"artifacts"}  # the artifacts folder's name: no original may take it
        if doc is not None and self.options.include_originals:
            record["original"] = self._original(folder, doc, taken)
        for artifact in item.artifacts:
            record["artifacts"].append(self._artifact(folder, artifact, taken))
        return record

    def _original(self, folder: str, doc: Document, taken: set[str]) -> str:
        path = f"{folder}/{unique(safe_name(doc.name, doc.id[:12]), taken)}"
        try:
            with doc.open() as source:
                digest, _ = _copy(self.zf, _entry(path, doc.media_type, doc.size), source)
        except OSError as exc:
            raise InputError(f"original file of {doc.name!r} cannot be read: {exc}",
                             hint="the document's blob is missing from the store; re-ingest the document") from exc
        if digest != doc.sha256:
            raise InputError(f"the file of {doc.name!r} changed: its SHA-256 is {digest}, not {doc.sha256}",
                             hint="the stored bytes no longer match the document; re-ingest it")
        return path

    def _artifact(self, folder: str, artifact: Artifact, taken: set[str]) -> dict[str, Any]:
        path = f"{folder}/artifacts/{unique(safe_name(artifact.name, 'artifact'), taken)}"
        try:
            if artifact.data is not None:
                info = _entry(path, artifact.media_type, len(artifact.data))
                digest = hashlib.sha256(artifact.data).hexdigest()
                self.zf.writestr(info, artifact.data)
                size = len(artifact.data)
            else:
                with open(artifact.path, "rb") as source:
                    info = _entry(path, artifact.media_type, os.fstat(source.fileno()).st_size)
                    digest, size = _copy(self.zf, info, source)
        except OSError as exc:
            raise InputError(f"artifact {artifact.name!r} cannot be read: {exc}",
                             hint="its file is missing from the store; re-run the step that made it") from exc
        return {"name": artifact.name, "media_type": artifact.media_type, "size": size, "sha256": digest, "path": path}


def write(batch: Batch, options: BundleSettings, path: str) -> dict[str, Any]:
    """Write the batch's ZIP to ``path``; return its manifest."""
    width = max(3, len(str(len(batch.items))))
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        writer = _Writer(zf, options)
        items = [writer.item(number, width, item) for number, item in enumerate(batch.items, 1)]
        manifest = {
            "format": FORMAT,
            "batch": {"id": batch.id, "workflow": batch.workflow},
            "counts": {"items": len(items), "statuses": dict(sorted(Counter(i["status"] for i in items).items()))},
            "items": items,
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n"
        zf.writestr(_entry("manifest.json", "application/json", None), text.encode())
    return manifest


class BundleExporter(Exporter):
    def export_batch(self, batch: Batch, options: BundleSettings | None = None) -> Artifact:
        options = options_or_default(self, options, BundleSettings)
        with temporary_output(".zip") as path:
            manifest = write(batch, options, path)
        return Artifact(
            name=batch_artifact_name(batch, "zip"), media_type="application/zip", path=path,
            metadata={"items": manifest["counts"]["items"]},
        )
