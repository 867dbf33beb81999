"""Ingesting documents into the blob store and the database, and reading them back."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections import OrderedDict
from pathlib import Path

from paperchain_sdk import Document, InputError, NotFoundError
from paperchain_sdk.media import claimed_media_type, sniff_media_type

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
        self._rows: OrderedDict[str, tuple] = OrderedDict()
        self.encoded: dict[str, tuple] = {}  # (tenant, the API's JSON) for a cached live row, dropped with it

    async def row(self, document_id: str, columns: str) -> tuple | None:
        """The ``documents`` row (``columns``, then ``tenant`` and ``deleted``), cached."""
        row = self._rows.get(document_id)
        if row is None:
            async with self._k.db.execute(f"SELECT {columns}, tenant, deleted FROM documents WHERE id = ?",
                                          (document_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            self._rows[document_id] = row
            if len(self._rows) > 10_000:
                self.encoded.pop(self._rows.popitem(last=False)[0], None)
        return row

    @property
    def search(self):
        """Full-text search over documents (``store/search/``): FTS5 in the kernel's SQLite file, kept
        current by triggers on ``documents``; PostgreSQL's adapter takes over when these tables move."""
        from .store.search.fts5 import Fts5Search

        return Fts5Search(self._k.db)

    def cached(self, document_id: str) -> tuple | None:
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
            document_id = await self._existing_id(tenant, staged.sha256) or await asyncio.to_thread(
                self._k.keyring.document_id, tenant, staged.sha256)
        except BaseException:
            self._k.blobs.discard(staged)
            raise
        blob = await asyncio.to_thread(self._k.blobs.commit, staged, document_id)
        name = name or path.name
        self._k.journal.execute(
            "INSERT OR IGNORE INTO documents (id, sha256, tenant, name, media_type, size, created, metadata, tags, "
            "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (document_id, staged.sha256, tenant or None, name, media_type, staged.size, now(),
             json.dumps(metadata or {}), "[]", created_by or None),
        )
        await self._k.emit("document.ingested", document_id, {"name": name, "media_type": media_type, "size": staged.size})
        return Document(id=document_id, name=name, media_type=media_type, size=staged.size, path=str(blob),
                        metadata=metadata or {}, sha256=staged.sha256)

    async def _existing_id(self, tenant: str, sha256: str) -> str | None:
        """The id this tenant's copy of this content already has (ids made before keying differ)."""
        async with self._k.db.execute("SELECT id FROM documents WHERE sha256 = ? AND tenant IS ? LIMIT 1",
                                      (sha256, tenant or None)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    def _stage(self, path: Path, name: str | None = None, move: bool = False, tenant: str = ""):
        check_readable(path)
        media_type = detect_media_type(path, name)
        if path.stat().st_size == 0:
            raise InputError(f"{name or path.name} is empty (0 bytes).", hint="check that the file was completely written")
        return media_type, self._k.blobs.stage(path, move=move, tenant=tenant)

    async def get(self, document_id: str, *, text: bool = True) -> Document:
        async with self._k.db.execute(
            f"SELECT id, name, media_type, size, {'text' if text else 'NULL'}, metadata, tags, sha256 FROM documents "
            "WHERE id = ? AND deleted IS NULL",
            (document_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"There is no document {document_id}.", hint="`paperchain documents list` shows them")
        async with self._k.db.execute("SELECT analyzer, data FROM findings WHERE document_id = ?", (document_id,)) as cursor:
            findings = {analyzer: json.loads(data) async for analyzer, data in cursor}
        return Document(
            id=row[0], name=row[1], media_type=row[2], size=row[3], path=str(await self.plain_path(row[0])),
            text=row[4], metadata=json.loads(row[5] or "{}"), tags=json.loads(row[6] or "[]"), findings=findings,
            sha256=row[7] or row[0],
        )

    async def visible(self, document_ids, *, tenant: str) -> set[str]:
        """Those of ``document_ids`` that are live documents a caller of ``tenant`` may see
        (``''``: the deployment-wide operator, who sees every tenant's)."""
        ids, seen = list(dict.fromkeys(document_ids)), set[str]()
        for at in range(0, len(ids), 500):
            chunk = ids[at:at + 500]
            sql = f"SELECT id FROM documents WHERE id IN ({','.join('?' * len(chunk))}) AND deleted IS NULL"
            async with self._k.db.execute(sql + (" AND tenant = ?" if tenant else ""),
                                          (*chunk, *((tenant,) if tenant else ()))) as cursor:
                seen.update(r[0] for r in await cursor.fetchall())
        return seen

    async def named(self, document_ids) -> dict[str, tuple[str, str]]:
        """(name, media type) of those of ``document_ids`` that are live documents, by id (search hits)."""
        ids, found = list(dict.fromkeys(document_ids)), {}
        for at in range(0, len(ids), 500):
            chunk = ids[at:at + 500]
            async with self._k.db.execute(f"SELECT id, name, media_type FROM documents WHERE id IN "
                                          f"({','.join('?' * len(chunk))}) AND deleted IS NULL", chunk) as cursor:
                found.update((r[0], (r[1], r[2])) for r in await cursor.fetchall())
        return found

    async def labeled(self, *, field: str = "tags", limit: int | None = None,
                      tenant: str | None = None) -> list[Document]:
        """Documents with text and a label: non-empty ``tags``, or the metadata key ``metadata.<key>``;
        with ``tenant``, only that tenant's ('': the deployment-wide scope's)."""
        if field == "tags":
            where = "tags IS NOT NULL AND tags != '[]'"
        elif field.startswith("metadata.") and field[9:].replace("_", "").replace("-", "").isalnum():
            where = f"json_extract(metadata, '$.\"{field[9:]}\"') IS NOT NULL"
        else:
            raise InputError(f"cannot read labels from {field!r}.", hint="use 'tags' or 'metadata.<key>'")
        sql = (f"SELECT id, name, media_type, size, text, metadata, tags, sha256 FROM documents WHERE deleted IS NULL "
               f"AND text IS NOT NULL AND text != '' AND {where}" + (" AND tenant IS ?" if tenant is not None else "") +
               " ORDER BY created, id" + (f" LIMIT {int(limit)}" if limit else ""))
        async with self._k.db.execute(sql, () if tenant is None else (tenant or None,)) as cursor:
            rows = await cursor.fetchall()
        return [Document(id=r[0], name=r[1], media_type=r[2], size=r[3], path=str(await self.plain_path(r[0])), text=r[4],
                         metadata=json.loads(r[5] or "{}"), tags=json.loads(r[6] or "[]"), sha256=r[7] or r[0])
                for r in rows]

    async def plain_path(self, document_id: str) -> Path:
        """A readable plaintext file of the document (decrypted off the event loop when needed)."""
        blobs = self._k.blobs
        return blobs.plain.get(document_id) or await asyncio.to_thread(blobs.path, document_id)

    def update(self, document: Document):
        self.forget(document.id)
        return self._k.journal.execute(
            "UPDATE documents SET text = ?, metadata = ?, tags = ? WHERE id = ?",
            (document.text, json.dumps(document.metadata), json.dumps(list(document.tags)), document.id),
        )


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
