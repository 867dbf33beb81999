"""What plugins may rely on from the kernel object handed to lifecycle and route hooks.

A plugin never imports ``paperchain``; it receives the running kernel as ``kernel`` in
``paperchain_startup``, ``paperchain_shutdown``, ``paperchain_event`` and ``paperchain_routes``
and may use exactly what this protocol lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .records import Document, Event
from .storage import PluginSchema, StorageAPI


class BlobStoreAPI(Protocol):
    """The content-addressed store (SHA-256) for bytes: documents, artifacts, model files. Blobs
    may be encrypted at rest: read them through ``path``, ``open`` or ``read_bytes``, never by
    looking for files in the store's folder."""

    def put_bytes(self, data: bytes) -> tuple[str, int, Path]:
        """Store bytes once per content; return ``(sha256, size, path)`` (``path`` as below)."""

    def put_file(self, source: str | Path, *, move: bool = False) -> tuple[str, int, Path]:
        """Store a file (streamed in chunks); return ``(sha256, size, path)`` (``path`` as below)."""

    def path(self, sha256: str) -> Path:
        """A read-only plaintext file of the blob (a transient private copy when the store is
        encrypted: read it soon, do not keep the path); a path that does not exist if there is no
        such blob."""

    def exists(self, sha256: str) -> bool:
        """Whether the store holds this blob."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes as a stream, checked as they are read."""

    def read_bytes(self, sha256: str) -> bytes:
        """All the blob's bytes at once; prefer ``open`` for large blobs."""


class DocumentsAPI(Protocol):
    async def get(self, document_id: str, *, text: bool = True) -> Document:
        """A stored document with its findings; raises NotFoundError if there is none."""

    async def ingest(self, path: str | Path, *, name: str | None = None, metadata: dict | None = None) -> Document:
        """Store a file as a document (once per content) and return it."""

    async def visible(self, document_ids, *, tenant: str) -> set[str]:
        """Those of ``document_ids`` that are live documents a caller of ``tenant`` may see (``''``:
        the deployment's operator, who sees every tenant's). A route that answers about documents
        checks the id it was given and filters what it lists with this, using the caller's
        ``principal(request).tenant``; to another tenant an id it may not see does not exist (404)."""

    async def labeled(self, *, field: str = "tags", limit: int | None = None,
                      tenant: str | None = None) -> list[Document]:
        """Documents with text and a non-empty ``tags`` list (``field='tags'``) or a metadata key
        (``field='metadata.<key>'``): the training data users have labeled. With ``tenant``, only
        that tenant's (``''``: only the deployment-wide scope's); without, every tenant's."""


class KernelAPI(Protocol):
    data_dir: Path
    """The deployment's data directory; a plugin keeps its own files under ``data_dir/<plugin>``."""

    db_path: Path
    """The kernel's SQLite file. Do not open it: keep a plugin's tables in ``storage`` below
    (plugins not yet moved onto it still open their own connection, writing from a worker thread)."""

    blobs: BlobStoreAPI
    documents: DocumentsAPI

    async def storage(self, schema: PluginSchema) -> StorageAPI:
        """The plugin's handle on its own tables (``paperchain_sdk.storage``) on the deployment's
        database (SQLite or PostgreSQL, ``database_url``), its pending Alembic migrations applied
        on the first call. The same handle is returned for the same schema afterwards."""

    def plugin_state(self, plugin: str) -> dict[str, Any]:
        """The plugin's own mutable state for this kernel: a dict, empty on the first call, the same
        dict on every later call with the same name (by convention the plugin's name, e.g.
        ``"ledger"``). Keep per-kernel objects here (open books, running loops, caches), never in
        module globals: two kernels in one process (tests, a CLI beside a server) then never share
        them, and they go when the kernel does. It is emptied after ``paperchain_shutdown`` runs,
        so a plugin's shutdown hook may still read it; a plugin closes what it holds there."""

    # -- read methods: what plugins may know of the kernel's own records (never its tables) ------

    async def batch(self, batch_id: str) -> dict | None:
        """A batch: ``id``, ``workflow``, ``status``, ``inputs`` (dict), ``tenant``; None if unknown."""

    async def run(self, run_id: str) -> dict | None:
        """A run: ``id``, ``batch_id``, ``workflow``, ``document_id``, ``status``; None if unknown."""

    async def run_statuses(self, batch_id: str) -> list[str]:
        """The status of each run of a batch, in order."""

    async def document_texts(self, *, limit: int) -> list[tuple[str, str | None]]:
        """``(id, text)`` of every tenant's live documents, oldest first, at most ``limit`` (e.g. a
        recommender's content model); a plugin filters per tenant with ``documents.visible``."""

    async def document_text_page(self, *, after: str = "", limit: int) -> list[tuple[str, str, str | None]]:
        """``(id, tenant, text)`` of every tenant's live documents in id order, those after ``after``
        only, at most ``limit`` (``''``: the deployment-wide scope): a resumable walk for backfills."""

    async def search_documents(self, query: str, *, tenant: str, limit: int = 20) -> list[tuple[str, float, str]]:
        """Full-text search as ``GET /api/v1/documents/search``: ``(id, rank, snippet)`` of the live
        documents a caller of ``tenant`` may see (``''``: the operator, every tenant's), best first,
        matched words between ``[`` and ``]``. InputError for a query the search grammar refuses."""

    async def count_events(self, type: str, *, since: str, until: str) -> int:
        """How many events of ``type`` were recorded between two ISO-8601 UTC times (inclusive)."""

    async def query_number(self, sql: str, params: dict) -> float | None:
        """An operator-written read-only SELECT over the kernel's database (e.g. a threshold
        trigger's ``query``): the first column of its first row. ValueError when it fails. It reads
        every tenant's rows: run one for the deployment's operator only (a deployment-wide
        workflow), never on a tenant's behalf."""

    async def emit(self, type: str, subject: str = "", data: dict | None = None, *, durable: bool = False) -> Event:
        """Record an event (``type`` dotted, e.g. ``ledger.appended``) in the kernel's event log and
        pass it to every ``paperchain_event`` implementation and live API subscriber. With
        ``durable=True`` it returns once the event is committed."""

    async def event_tenant(self, event: Event) -> str | None:
        """The tenant an event belongs to: ``''`` for the deployment-wide scope, None when it cannot
        be told (then only the operator and deployment-wide workflows may act on it)."""

    async def user_tenant(self, name: str) -> str | None:
        """The tenant of the user ``name`` (``''`` for the deployment's operator), None when there is
        no such user. A plugin that addresses users checks a tenant's message goes to its own users."""

    async def workflow_tenant(self, workflow: str) -> str:
        """The tenant of a saved workflow named by its ref (``name`` or ``tenant:name``); ``''`` for
        a deployment-wide one. A trigger of a tenant's workflow reacts only to that tenant's events."""

    def component(self, name: str) -> Any:
        """The instance of an installed component, by name (imported on first use); this is how a
        plugin uses another's service, e.g. ``kernel.component("notify.email").send(message)``."""

    async def submit(self, workflow: str, *, documents: tuple[str, ...] = (), paths: tuple[str, ...] = (),
                     inputs: dict | None = None, idempotency_key: str = "", source: str = "") -> str:
        """Start runs of a saved workflow (by name) for stored documents (ids), files (paths) or
        inputs alone; return the batch id. The same non-empty ``idempotency_key`` returns the
        first batch's id instead of starting another."""
