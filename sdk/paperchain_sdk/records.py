"""Records that cross the boundary between the kernel and plugins.

All are frozen attrs classes: safe to share between tasks, picklable for the process pool, and
structured/unstructured with cattrs for storage and the API.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from .media import sniff_media_type

_CHUNK = 1 << 20


def _frozen_dict(value: Mapping | None) -> dict:
    return dict(value or {})


def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    """Return ``(hex digest, size)`` of a file, read in 1 MiB chunks (never whole)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@attrs.frozen(kw_only=True)
class Document:
    """A document as components see it.

    ``id`` identifies the document (in the kernel: the bytes' SHA-256 keyed by the tenant, so two
    tenants' copies of the same bytes are unrelated), ``sha256`` is the bytes' plain SHA-256 (the
    id when not given), ``path`` a readable file holding them (in the kernel: a private plaintext
    copy, or anywhere for tests). ``text`` is the best text known so far (set by a text
    extraction or OCR step), ``findings`` maps analyzer component names to the ``data`` of the
    Findings they returned (plain JSON, as stored).
    """

    id: str
    name: str
    media_type: str
    size: int
    path: str
    text: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    findings: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    sha256: str = attrs.field(default=attrs.Factory(lambda self: self.id, takes_self=True))

    def open(self) -> BinaryIO:
        """Open the document's bytes for streaming reads."""
        return open(self.path, "rb")

    def read_bytes(self) -> bytes:
        """All the bytes at once; prefer :meth:`open` for large documents."""
        return Path(self.path).read_bytes()

    @property
    def stem(self) -> str:
        """The name without its extension, handy for naming artifacts."""
        return Path(self.name).stem or self.id[:12]

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, media_type: str | None = None, **fields) -> Document:
        """Describe a file on disk as a Document (hashing it in chunks). Used by tests and tools."""
        path = Path(path)
        digest, size = sha256_file(path)
        return cls(
            id=digest,
            name=fields.pop("name", path.name),
            media_type=media_type or sniff_media_type(path),
            size=size,
            path=str(path),
            **fields,
        )


@attrs.frozen(kw_only=True)
class Artifact:
    """A file a component produced: an export, a receipt, an enhanced image.

    Give either ``data`` (bytes) or ``path`` (a file the kernel moves into the blob store: returning
    it hands the file over; a component that fails before returning deletes its own file). Batch
    items carry stored artifacts, with ``sha256``, ``size`` and ``path`` (in the blob store) set.
    """

    name: str
    media_type: str
    data: bytes | None = attrs.field(default=None, repr=False)
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)

    def __attrs_post_init__(self):
        if self.data is None and self.path is None:
            raise ValueError(f"Artifact {self.name!r} has neither data nor path: give one of them")
        if self.data is not None and self.path is not None:
            raise ValueError(f"Artifact {self.name!r} has both data and path: give only one")

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None  # checked when made: exactly one of data and path
        return Path(self.path).read_bytes()


@attrs.frozen(kw_only=True)
class Findings:
    """What an analyzer found in a document: JSON-serialisable ``data`` and a one-line summary."""

    data: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    summary: str = ""


@attrs.frozen(kw_only=True)
class DocumentUpdate:
    """Changes an action asks the kernel to make to the run's document (text is indexed for search)."""

    text: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen(kw_only=True)
class Result:
    """What an action returns when plain outputs are not enough.

    ``outputs`` is JSON-serialisable and becomes ``steps.<id>.outputs``; ``artifacts`` are stored
    in the blob store; ``document`` updates the run's document.
    """

    outputs: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    artifacts: tuple[Artifact, ...] = attrs.field(default=(), converter=tuple)
    document: DocumentUpdate | None = None


@attrs.frozen(kw_only=True)
class BatchItem:
    """One document's run inside a batch, as batch-scoped components see it."""

    run_id: str
    status: str
    document: Document | None
    outputs: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    artifacts: tuple[Artifact, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen(kw_only=True)
class Batch:
    """A batch of runs of one workflow, given to batch-scoped exporters (CSV, bundle …).

    Built to fit in memory for any batch size: items' documents carry no ``text`` (open the file
    at ``document.path``), and output values over 64 KiB are replaced by a note of their size.
    """

    id: str
    workflow: str
    items: tuple[BatchItem, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen(kw_only=True)
class RunContext:
    """Where a step runs: identifiers, the run's document and inputs, and a scratch folder.

    ``idempotency_key`` is stable across retries and crash-resumes of the same step: a component
    with side effects passes it to whatever it acts on, so acting twice is detected there.
    """

    run_id: str
    step_id: str
    workflow: str
    attempt: int = 1
    idempotency_key: str = ""
    document: Document | None = None
    batch: Batch | None = None
    inputs: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    work_dir: str = ""
    tenant: str = ""  # the tenant the run belongs to ('' for the deployment-wide scope)

    def scratch(self) -> Path:
        """The step's scratch folder (``work_dir``), created on first use; the kernel removes it
        when the run ends."""
        path = Path(self.work_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def logger(self):
        import logging

        return logging.getLogger(f"paperchain.step.{self.workflow}.{self.step_id}")


@attrs.frozen(kw_only=True)
class Prediction:
    """A model's answer for one input."""

    label: Any = None
    probabilities: dict[str, float] = attrs.field(factory=dict, converter=_frozen_dict)
    values: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    model: str = ""
    version: str = ""


@attrs.frozen(kw_only=True)
class Receipt:
    """Proof that a ledger accepted an entry: its index and whatever the ledger needs to verify it."""

    ledger: str
    index: int
    entry_hash: str
    data: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen(kw_only=True)
class Message:
    """Something to tell people, handed to a notifier."""

    to: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    subject: str = ""
    body: str = ""
    priority: int = 0
    idempotency_key: str = ""
    attachments: tuple[Artifact, ...] = attrs.field(default=(), converter=tuple)
    data: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen(kw_only=True)
class Delivery:
    """What became of a message: ``queued``, ``sent`` or ``failed`` (with ``detail``)."""

    channel: str
    status: str
    message_id: str = ""
    detail: str = ""


@attrs.frozen(kw_only=True)
class RunRequest:
    """What a trigger emits to start a run. ``idempotency_key`` makes a repeated request a no-op."""

    workflow: str
    inputs: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    documents: tuple[str, ...] = attrs.field(default=(), converter=tuple)  # ids of stored documents
    paths: tuple[str, ...] = attrs.field(default=(), converter=tuple)  # files to ingest
    idempotency_key: str = ""
    source: str = ""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


@attrs.frozen(kw_only=True)
class Event:
    """A state change the kernel announces through ``paperchain_event``.

    ``type`` is dotted (``run.started``, ``step.succeeded``, ``document.ingested`` …), ``subject``
    the id of what changed, ``seq`` its position in the kernel's durable event log.
    """

    type: str
    subject: str = ""
    data: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    time: str = attrs.field(factory=_now)
    seq: int = 0
