"""The SQLite adapter: an FTS5 table of names and text, and a plain table mapping its rows to
documents and tenants (FTS5 looks up only by rowid quickly, so the id and tenant live beside it).

The tokenizer is ``unicode61 remove_diacritics 2``: letters and digits, lower case, accents removed,
no stemming; the same words the grammar folds a query into, and the PostgreSQL adapter indexes.
In the kernel's database, triggers on ``documents`` keep these tables current in the transaction
that writes the document (schema ``_v13``); ``index``/``remove`` do the same from Python for a
database without them.

It runs on a SQLite ``SqlHandle`` (store/sql.py: the kernel's ``kernel.sql``, or one of its own in
tests and benches). Its statements are SQL text built once here: FTS5's virtual table, ``MATCH``,
``bm25()`` and ``snippet()`` have no Core form, and this adapter exists only on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from . import (
    MARK_CLOSE,
    MARK_OPEN,
    SNIPPET_WORDS,
    Entry,
    Hit,
    check_limit,
    decode_cursor,
    next_cursor,
)
from .grammar import Query, Term, parse, render

TABLES = (
    ("CREATE TABLE IF NOT EXISTS search_documents (rowid INTEGER PRIMARY KEY, document_id TEXT NOT NULL UNIQUE, "
     "tenant TEXT NOT NULL)"),
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(name, text, tokenize = 'unicode61 remove_diacritics 2')",
)
_REMOVE = tuple(sa.text(s) for s in (
    "DELETE FROM search_fts WHERE rowid = (SELECT rowid FROM search_documents WHERE document_id = :id)",
    "DELETE FROM search_documents WHERE document_id = :id"))
_ADD = tuple(sa.text(s) for s in (
    "INSERT INTO search_documents (document_id, tenant) VALUES (:id, :tenant)",
    ("INSERT INTO search_fts (rowid, name, text) VALUES ((SELECT rowid FROM search_documents WHERE document_id = :id), "
     ":name, :text)")))
_JOINED = "FROM search_fts JOIN search_documents d ON d.rowid = search_fts.rowid WHERE search_fts MATCH :match"
_SCOPE = " AND d.tenant = :tenant"  # absent for the deployment-wide operator (ALL_TENANTS)
# Keyed by whether the query is scoped to one tenant.
_QUERY = {scoped: sa.text(
    "SELECT d.document_id, bm25(search_fts, 2.0, 1.0) AS score, snippet(search_fts, 1, :open, :close, '…', :words) "
    f"AS snippet {_JOINED}{_SCOPE if scoped else ''} ORDER BY score, d.document_id LIMIT :n OFFSET :skip")
    for scoped in (False, True)}
_COUNT = {scoped: sa.text(f"SELECT count(*) {_JOINED}{_SCOPE if scoped else ''}") for scoped in (False, True)}


def match_expression(query: Query) -> str:
    """The FTS5 MATCH string: every word in double quotes (so none is read as an operator or a column)."""
    return render(query, _term, and_=" AND ", or_=" OR ", and_not=" NOT ")


def _term(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + (" *" if term.prefix else "")


class Fts5Search:
    """Search on a SQLite database through its ``SqlHandle``."""

    backend = "sqlite"
    kept_by_triggers = True  # in the kernel's database: the documents' triggers write the index

    def __init__(self, sql):
        self.sql = sql

    async def create(self) -> None:
        """The tables, for a database the kernel's migrations did not make (tests, benches)."""
        async with self.sql.transaction() as tx:
            for statement in TABLES:
                await tx.execute(sa.text(statement))

    async def index(self, document_id: str, tenant: str, name: str, text: str) -> None:
        await self.index_many([Entry(document_id, tenant, name, text)])

    async def index_many(self, entries: Iterable[Entry]) -> None:
        """Replace these documents' entries in one transaction (on the kernel's database the
        triggers do this inside the journal's transactions)."""
        rows = [{"id": e.document_id, "tenant": e.tenant or "", "name": e.name or "", "text": e.text or ""}
                for e in entries]
        if not rows:
            return
        async with self.sql.transaction() as tx:
            for statement in (*_REMOVE, *_ADD):
                await tx.execute(statement, rows)

    async def remove(self, document_id: str) -> None:
        async with self.sql.transaction() as tx:
            for statement in _REMOVE:
                await tx.execute(statement, {"id": document_id})

    async def query(self, text: str, tenant: str | None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[Hit], str | None]:
        match, offset = match_expression(parse(text)), decode_cursor(cursor)
        check_limit(limit)
        rows = await self.sql.read(_QUERY[tenant is not None], {
            "open": MARK_OPEN, "close": MARK_CLOSE, "words": SNIPPET_WORDS, "match": match, "tenant": tenant,
            "n": limit + 1, "skip": offset})
        hits = [Hit(id=r.document_id, rank=-r.score, snippet=r.snippet or "") for r in rows[:limit]]
        return hits, next_cursor(offset, limit, rows)

    async def count(self, text: str, tenant: str | None) -> int:
        return await self.sql.scalar(_COUNT[tenant is not None],
                                     {"match": match_expression(parse(text)), "tenant": tenant})
