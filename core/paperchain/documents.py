"""Ingesting documents into the blob store and the database, and reading them back."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections import OrderedDict
from pathlib import Path

import sqlalchemy as sa

from paperchain_sdk import Document, InputError, NotFoundError
from paperchain_sdk.media import claimed_media_type, sniff_media_type

from .store.portable import json_field
from .store.search import Entry
from .store.tables import documents, findings

_d = documents.c
# What the API and the web list of a document (``Documents.row`` caches these, then tenant and deleted).
LISTED = (_d.id, _d.name, _d.media_type, _d.size, _d.created, _d.metadata, _d.tags, _d.created_by,
          sa.and_(_d.text.is_not(None), _d.text != "").label("has_text"))
_ROW = sa.select(*LISTED, _d.tenant, _d.deleted).where(_d.id == sa.bindparam("document_id"))
_EXISTING = sa.select(_d.id).where(_d.sha256 == sa.bindparam("sha256"),
                                   _d.tenant.is_not_distinct_from(sa.bindparam("tenant"))).limit(1)
_FINDINGS = sa.select(findings.c.analyzer, findings.c.data).where(findings.c.document_id == sa.bindparam("document_id"))
_SET_TEXT = sa.update(documents).where(_d.id == sa.bindparam("document_id")).values(
    text=sa.bindparam("new_text"), metadata=sa.bindparam("new_metadata"), tags=sa.bindparam("new_tags"))
_SEARCHED = sa.select(_d.id, _d.tenant, _d.name, _d.text, _d.deleted)

# Names that promise a format we can recognise from its first bytes.
_CHECKABLE = {
    "application/pdf", "image/png", "image/jpeg", "image/tiff", "image/gif",
    "application/zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path} does not exist.", hint="check the path, or that the file was not moved")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file.", hint="pass files, or folders to take every file inside")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path} cannot be read (permission denied).", hint=f"chmod u+r {path}")


def detect_media_type(path: Path, name: str | None = None) -> str:
    """What the content is; refuse a file whose name claims a format its content is not."""
    sniffed = sniff_media_type(path)
    name = name or path.name
    claimed = claimed_media_type(name)
    if claimed in _CHECKABLE and sniffed != claimed:
        raise InputError(
            f"{name} is named like {claimed} but its content is {_describe(sniffed)}.",
            hint="the file is damaged or misnamed: check where it came from, or rename it to its real type",
        )
    if claimed and claimed.startswith("text/") and sniffed == "application/octet-stream":
        raise InputError(f"{name} is named like text but holds binary data.", hint="check the file; rename it if it is not text")
    return sniffed


def _describe(media_type: str) -> str:
    return "not a format we recognise" if media_type == "application/octet-stream" else media_type


class Documents:
    def __init__(self, kernel):
        self._k = kernel
        # API rows by id: a read-mostly cache (a GET costs no database round trip); every write
        # path below and in the API forgets the row it changes.
        self._rows: OrderedDict[str, sa.Row] = OrderedDict()
        self.encoded: dict[str, tuple] = {}  # (tenant, the API's JSON) for a cached live row, dropped with it
        self._search = None
        self._insert_new = None  # INSERT OR IGNORE, in the kernel's dialect (built once: the journal groups by it)

    async def row(self, document_id: str) -> sa.Row | None:
        """The ``documents`` row (``LISTED``, then ``tenant`` and ``deleted``), cached."""
        row = self._rows.get(document_id)
        if row is None:
            row = await self._k.sql.first(_ROW, {"document_id": document_id})
            if row is None:
                return None
            self._rows[document_id] = row
            if len(self._rows) > 10_000:
                self.encoded.pop(self._rows.popitem(last=False)[0], None)
        return row

    @property
    def search(self):
        """Full-text search over documents (``store/search/``), the adapter of the kernel's database:
        FTS5 on SQLite, kept current by triggers on ``documents``; ``tsvector`` on PostgreSQL, kept
        current from here (``reindex`` and the statements queued with a document's writes)."""
        if self._search is None or self._search.sql is not self._k.sql:
            from .store.search.fts5 import Fts5Search
            from .store.search.postgres import PostgresSearch

            self._search = (Fts5Search if self._k.sql.dialect == "sqlite" else PostgresSearch)(self._k.sql)
        return self._search

    async def open(self) -> None:
        """At the kernel's start, where no trigger keeps the search index (PostgreSQL): its tables when
        missing, and an entry for each live document without one (written before the index existed,
        or by hand), a thousand at a time."""
        search = self.search
        if search.kept_by_triggers:
            return
        await search.create()
        from .store.search.postgres import search_index

        unindexed = sa.select(_d.id, _d.tenant, _d.name, _d.text).where(
            _d.deleted.is_(None), ~sa.exists().where(search_index.c.document_id == _d.id)).limit(1000)
        while rows := await self._k.sql.read(unindexed):
            await search.index_many(Entry(r.id, r.tenant or "", r.name, r.text) for r in rows)

    async def reindex(self, document_ids) -> None:
        """After a write that changes documents' name, tenant or deletion has committed: their index
        entries follow (on SQLite the triggers did it in the write's own transaction)."""
        search = self.search
        if search.kept_by_triggers:
            return
        rows = await self._k.sql.read(_SEARCHED.where(_d.id.in_(list(document_ids))))
        live = {r.id: r for r in rows if r.deleted is None}
        await search.index_many(Entry(r.id, r.tenant or "", r.name, r.text) for r in live.values())
        for document_id in set(document_ids) - set(live):
            await search.remove(document_id)

    def cached(self, document_id: str) -> sa.Row | None:
        return self._rows.get(document_id)

    def forget(self, document_id: str) -> None:
        self._rows.pop(document_id, None)
        self.encoded.pop(document_id, None)

    async def ingest(self, path: str | os.PathLike, *, name: str | None = None, metadata: dict | None = None,
                     move: bool = False, tenant: str = "", created_by: str = "") -> Document:
        """Store a file (once per content and tenant) and return it as a Document. Bad files raise
        InputError.

        The id is the content's SHA-256 keyed by the tenant's id key (see ``store.keys``), so equal
        bytes in two tenants are two unrelated documents, and the blob is filed under that id. A
        document stored before ids were keyed keeps its id (its plain digest). The database row goes
        through the journal (group commit); await ``kernel.journal.flush()`` when it must be durable
        before going on.
        """
        path = Path(path)
        media_type, staged = await asyncio.to_thread(self._stage, path, name, move, tenant)
        try:
            existing = await self._existing_id(tenant, staged.sha256)
            document_id = existing or await asyncio.to_thread(self._k.keyring.document_id, tenant, staged.sha256)
        except BaseException:
            self._k.blobs.discard(staged)
            raise
        blob = await asyncio.to_thread(self._k.blobs.commit, staged, document_id)
        name = name or path.name
        journal = self._k.journal
        if self._insert_new is None:
            self._insert_new = self._k.sql.insert(documents).on_conflict_do_nothing()
        journal.execute(self._insert_new, {
            "id": document_id, "sha256": staged.sha256, "tenant": tenant or None, "name": name,
            "media_type": media_type, "size": staged.size, "created": now(), "metadata": json.dumps(metadata or {}),
            "tags": "[]", "created_by": created_by or None})
        if not existing and not self.search.kept_by_triggers:  # a new document: its entry in the same commit
            journal.execute(*self.search.queued(Entry(document_id, tenant, name, ""), new=True))
        await self._k.emit("document.ingested", document_id, {"name": name, "media_type": media_type, "size": staged.size})
        return Document(id=document_id, name=name, media_type=media_type, size=staged.size, path=str(blob),
                        metadata=metadata or {}, sha256=staged.sha256)

    async def _existing_id(self, tenant: str, sha256: str) -> str | None:
        """The id this tenant's copy of this content already has (ids made before keying differ)."""
        return await self._k.sql.scalar(_EXISTING, {"sha256": sha256, "tenant": tenant or None})

    def _stage(self, path: Path, name: str | None = None, move: bool = False, tenant: str = ""):
        check_readable(path)
        media_type = detect_media_type(path, name)
        if path.stat().st_size == 0:
            raise InputError(f"{name or path.name} is empty (0 bytes).", hint="check that the file was completely written")
        return media_type, self._k.blobs.stage(path, move=move, tenant=tenant)

    async def get(self, document_id: str, *, text: bool = True) -> Document:
        row = await self._k.sql.first(
            sa.select(_d.id, _d.name, _d.media_type, _d.size, _d.text if text else sa.null().label("text"), _d.metadata,
                      _d.tags, _d.sha256).where(_d.id == document_id, _d.deleted.is_(None)))
        if row is None:
            raise NotFoundError(f"There is no document {document_id}.", hint="`paperchain documents list` shows them")
        found = {r.analyzer: json.loads(r.data) for r in await self._k.sql.read(_FINDINGS, {"document_id": document_id})}
        return Document(
            id=row.id, name=row.name, media_type=row.media_type, size=row.size, path=str(await self.plain_path(row.id)),
            text=row.text, metadata=json.loads(row.metadata or "{}"), tags=json.loads(row.tags or "[]"),
            findings=found, sha256=row.sha256 or row.id,
        )

    async def visible(self, document_ids, *, tenant: str) -> set[str]:
        """Those of ``document_ids`` that are live documents a caller of ``tenant`` may see
        (``''``: the deployment-wide operator, who sees every tenant's)."""
        ids, seen = list(dict.fromkeys(document_ids)), set[str]()
        for at in range(0, len(ids), 500):
            chunk = ids[at:at + 500]
            statement = sa.select(_d.id).where(_d.id.in_(chunk), _d.deleted.is_(None))
            if tenant:
                statement = statement.where(_d.tenant == tenant)
            seen.update(r.id for r in await self._k.sql.read(statement))
        return seen

    async def named(self, document_ids) -> dict[str, tuple[str, str]]:
        """(name, media type) of those of ``document_ids`` that are live documents, by id (search hits)."""
        ids, found = list(dict.fromkeys(document_ids)), {}
        for at in range(0, len(ids), 500):
            chunk = ids[at:at + 500]
            rows = await self._k.sql.read(sa.select(_d.id, _d.name, _d.media_type).where(
                _d.id.in_(chunk), _d.deleted.is_(None)))
            found.update((r.id, (r.name, r.media_type)) for r in rows)
        return found

    async def labeled(self, *, field: str = "tags", limit: int | None = None,
                      tenant: str | None = None) -> list[Document]:
        """Documents with text and a label: non-empty ``tags``, or the metadata key ``metadata.<key>``;
        with ``tenant``, only that tenant's ('': the deployment-wide scope's)."""
        if field == "tags":
            labeled = sa.and_(_d.tags.is_not(None), _d.tags != "[]")
        elif field.startswith("metadata.") and field[9:].replace("_", "").replace("-", "").isalnum():
            labeled = json_field(_d.metadata, field[9:]).is_not(None)
        else:
            raise InputError(f"cannot read labels from {field!r}.", hint="use 'tags' or 'metadata.<key>'")
        statement = sa.select(_d.id, _d.name, _d.media_type, _d.size, _d.text, _d.metadata, _d.tags, _d.sha256).where(
            _d.deleted.is_(None), _d.text.is_not(None), _d.text != "", labeled).order_by(_d.created, _d.id)
        if tenant is not None:
            statement = statement.where(_d.tenant.is_not_distinct_from(tenant or None))
        if limit:
            statement = statement.limit(int(limit))
        return [Document(id=r.id, name=r.name, media_type=r.media_type, size=r.size, path=str(await self.plain_path(r.id)),
                         text=r.text, metadata=json.loads(r.metadata or "{}"), tags=json.loads(r.tags or "[]"),
                         sha256=r.sha256 or r.id)
                for r in await self._k.sql.read(statement)]

    async def plain_path(self, document_id: str) -> Path:
        """A readable plaintext file of the document (decrypted off the event loop when needed)."""
        blobs = self._k.blobs
        return blobs.plain.get(document_id) or await asyncio.to_thread(blobs.path, document_id)

    def update(self, document: Document):
        """Queue the document's new text, metadata and tags (the future resolves when committed)."""
        self.forget(document.id)
        journal = self._k.journal
        done = journal.execute(_SET_TEXT, {"document_id": document.id, "new_text": document.text,
                                           "new_metadata": json.dumps(document.metadata),
                                           "new_tags": json.dumps(list(document.tags))})
        if not self.search.kept_by_triggers:
            journal.execute(*self.search.queued(Entry(document.id, "", document.name, document.text or ""), new=False))
        return done


def expand_paths(items) -> list[Path]:
    """Files as given, and every file (not hidden, sorted) under each folder given."""
    paths: list[Path] = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            paths.extend(
                p for p in sorted(item.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts)
            )
        else:
            paths.append(item)
    return paths
