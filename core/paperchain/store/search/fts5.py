"""The SQLite adapter: an FTS5 table of names and text, and a plain table mapping its rows to
documents and tenants (FTS5 looks up only by rowid quickly, so the id and tenant live beside it).

The tokenizer is ``unicode61 remove_diacritics 2``: letters and digits, lower case, accents removed,
no stemming; the same words the grammar folds a query into, and the PostgreSQL adapter indexes.
In the kernel's database, triggers on ``documents`` keep these tables current in the transaction
that writes the document (schema ``_v13``); ``index``/``remove`` do the same from Python for a
database without them.
"""

from __future__ import annotations

from collections.abc import Iterable

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
_REMOVE = ("DELETE FROM search_fts WHERE rowid = (SELECT rowid FROM search_documents WHERE document_id = ?)",
           "DELETE FROM search_documents WHERE document_id = ?")
_ADD = ("INSERT INTO search_documents (document_id, tenant) VALUES (?, ?)",
        "INSERT INTO search_fts (rowid, name, text) VALUES ((SELECT rowid FROM search_documents WHERE document_id = ?), ?, ?)")


def match_expression(query: Query) -> str:
    """The FTS5 MATCH string: every word in double quotes (so none is read as an operator or a column)."""
    return render(query, _term, and_=" AND ", or_=" OR ", and_not=" NOT ")


def _term(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + (" *" if term.prefix else "")


class Fts5Search:
    """Search on a SQLite database through an aiosqlite connection (the kernel's own, or any)."""

    backend = "sqlite"

    def __init__(self, db):
        self.db = db

    async def create(self) -> None:
        """The tables, for a database the kernel's migrations did not make (tests, benches)."""
        for statement in TABLES:
            await self.db.execute(statement)
        await self.db.commit()

    async def index(self, document_id: str, tenant: str, name: str, text: str) -> None:
        await self.index_many([Entry(document_id, tenant, name, text)])

    async def index_many(self, entries: Iterable[Entry]) -> None:
        """Replace these documents' entries in one transaction (a connection of its own: on the
        kernel's, the triggers do this inside the journal's transactions)."""
        rows = [(e.document_id, e.tenant or "", e.name or "", e.text or "") for e in entries]
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _REMOVE:
                await self.db.executemany(statement, [(r[0],) for r in rows])
            await self.db.executemany(_ADD[0], [(r[0], r[1]) for r in rows])
            await self.db.executemany(_ADD[1], [(r[0], r[2], r[3]) for r in rows])
        except BaseException:
            await self.db.rollback()
            raise
        await self.db.commit()

    async def remove(self, document_id: str) -> None:
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _REMOVE:
                await self.db.execute(statement, (document_id,))
        except BaseException:
            await self.db.rollback()
            raise
        await self.db.commit()

    async def query(self, text: str, tenant: str | None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[Hit], str | None]:
        match, offset = match_expression(parse(text)), decode_cursor(cursor)
        check_limit(limit)
        scope, values = _scope(tenant)
        async with self.db.execute(
            "SELECT d.document_id, bm25(search_fts, 2.0, 1.0) AS score, snippet(search_fts, 1, ?, ?, '…', ?) "
            "FROM search_fts JOIN search_documents d ON d.rowid = search_fts.rowid "
            f"WHERE search_fts MATCH ?{scope} ORDER BY score, d.document_id LIMIT ? OFFSET ?",
            (MARK_OPEN, MARK_CLOSE, SNIPPET_WORDS, match, *values, limit + 1, offset),
        ) as rows_cursor:
            rows = await rows_cursor.fetchall()
        hits = [Hit(id=r[0], rank=-r[1], snippet=r[2] or "") for r in rows[:limit]]
        return hits, next_cursor(offset, limit, rows)

    async def count(self, text: str, tenant: str | None) -> int:
        scope, values = _scope(tenant)
        async with self.db.execute(
            "SELECT count(*) FROM search_fts JOIN search_documents d ON d.rowid = search_fts.rowid "
            f"WHERE search_fts MATCH ?{scope}", (match_expression(parse(text)), *values)) as rows_cursor:
            return (await rows_cursor.fetchone())[0]


def _scope(tenant: str | None) -> tuple[str, tuple]:
    return ("", ()) if tenant is None else (" AND d.tenant = ?", (tenant,))
