"""The PostgreSQL adapter: a ``tsvector`` column with a GIN index, snippets by ``ts_headline``.

Words are indexed exactly as the grammar folds them (no case, no accents, split on anything not a
letter or digit, no stemming), so this adapter finds what the FTS5 one finds. To guarantee that, the
``tsvector`` and the ``tsquery`` are built here from those words and cast from bound text
(``:v::tsvector``, ``:q::tsquery``), instead of letting PostgreSQL's parser and dictionaries split
them: its parser reads ``e-mail``, ``3.5`` or a URL differently from FTS5's, and
``websearch_to_tsquery`` has no prefix search. The name's words come first (weight A), then a
gap (so a phrase never runs from the name into the text), then the text's (weight B).

``ts_headline`` reads the stored text with the ``paperchain_search`` configuration (``simple`` with
``unaccent``, so "Café" is highlighted for cafe); without the unaccent extension it falls back to
``simple`` (accented words then match but are not highlighted). PostgreSQL keeps word positions up
to 16,383: a phrase further into a very long text is not found here (FTS5 finds it).
"""

from __future__ import annotations

import logging
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
from .grammar import Query, Term, parse, render, words

log = logging.getLogger(__name__)

_MAX_POSITION = 16383  # PostgreSQL's largest word position
_MAX_POSITIONS = 256  # positions kept per word
_MAX_LEXEME = 2046  # bytes

TABLES = (
    ("CREATE TABLE IF NOT EXISTS search_index (document_id text PRIMARY KEY, tenant text NOT NULL, "
     "name text NOT NULL, body text NOT NULL, words tsvector NOT NULL)"),
)
# One GIN index over (tenant, words) with btree_gin, so a tenant's query reads only its own matches;
# without that extension, GIN over the words and the tenant filtered after.
_TENANT_INDEX = ("CREATE EXTENSION IF NOT EXISTS btree_gin",
                 "CREATE INDEX IF NOT EXISTS search_index_tenant_words ON search_index USING gin (tenant, words)")
# With the query's words in hand the planner guesses how many rows match from the statistics and,
# for a common word, reads the whole table, unpacking every tsvector (341 ms for one word in 13 % of
# 20,000 documents, against 25 ms through the GIN index); the plan made without them always takes
# the index. SET LOCAL: only for this transaction.
_GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"
_WORDS_INDEX = "CREATE INDEX IF NOT EXISTS search_index_words ON search_index USING gin (words)"
_HEADLINE_CONFIG = """
DO $$ BEGIN
  CREATE EXTENSION IF NOT EXISTS unaccent;
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'paperchain_search') THEN
    CREATE TEXT SEARCH CONFIGURATION paperchain_search (COPY = simple);
    ALTER TEXT SEARCH CONFIGURATION paperchain_search
      ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword,
        hword_numpart WITH unaccent, simple;
  END IF;
END $$
"""


def tsvector_literal(name: str, text: str) -> str:
    """The document's words with positions: the name's (A), a gap, the text's (B)."""
    positions: dict[str, list[str]] = {}
    position = 0
    for weight, source in (("A", name), ("B", text)):
        for word in words(source):
            position = min(position + 1, _MAX_POSITION)
            seen = positions.setdefault(word, [])
            if len(seen) < _MAX_POSITIONS:
                seen.append(f"{position}{weight}")
        position += 1  # the gap
    return " ".join(f"'{w}':{','.join(p)}" for w, p in positions.items() if len(w.encode()) <= _MAX_LEXEME)


def tsquery_text(query: Query) -> str:
    """The ``tsquery`` in PostgreSQL's input syntax; words are letters and digits only, quoted anyway."""
    return render(query, _term, and_=" & ", or_=" | ", and_not=" & !")


def _term(term: Term) -> str:
    parts = [f"'{w}'" for w in term.words]
    if term.prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")"


class PostgresSearch:
    """Search on PostgreSQL through the deployment's SQLAlchemy engine (``store.database.Database``)."""

    backend = "postgresql"

    def __init__(self, database):
        self.engine = database.engine
        self.headline_config = "simple"

    async def create(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        async with self.engine.begin() as conn:
            for statement in TABLES:
                await conn.execute(text(statement))
        try:
            async with self.engine.begin() as conn:
                for statement in _TENANT_INDEX:
                    await conn.execute(text(statement))
        except DBAPIError as exc:  # no btree_gin (postgresql-contrib) or no right to create it
            log.warning("search: one GIN index over the words, tenants filtered after: %s", exc.orig)
            async with self.engine.begin() as conn:
                await conn.execute(text(_WORDS_INDEX))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(text(_HEADLINE_CONFIG))
            self.headline_config = "paperchain_search"
        except DBAPIError as exc:  # no unaccent (postgresql-contrib) or no right to create it
            log.warning("search snippets will not highlight accented words: %s", exc.orig)
            async with self.engine.connect() as conn:
                found = (await conn.execute(text("SELECT 1 FROM pg_ts_config WHERE cfgname = 'paperchain_search'"))).first()
            self.headline_config = "paperchain_search" if found else "simple"

    async def index(self, document_id: str, tenant: str, name: str, text: str) -> None:
        await self.index_many([Entry(document_id, tenant, name, text)])

    async def index_many(self, entries: Iterable[Entry]) -> None:
        from sqlalchemy import text

        rows = [{"id": e.document_id, "tenant": e.tenant or "", "name": e.name or "", "body": e.text or "",
                 "words": tsvector_literal(e.name or "", e.text or "")} for e in entries]
        if not rows:
            return
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO search_index (document_id, tenant, name, body, words) "
                "VALUES (:id, :tenant, :name, :body, CAST(:words AS tsvector)) ON CONFLICT (document_id) DO UPDATE "
                "SET tenant = excluded.tenant, name = excluded.name, body = excluded.body, words = excluded.words"), rows)

    async def remove(self, document_id: str) -> None:
        from sqlalchemy import text

        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM search_index WHERE document_id = :id"), {"id": document_id})

    async def query(self, text: str, tenant: str | None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[Hit], str | None]:
        from sqlalchemy import text as sql

        tsquery, offset = tsquery_text(parse(text)), decode_cursor(cursor)
        check_limit(limit)
        scope = "" if tenant is None else " AND tenant = :tenant"
        options = (f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=5, "
                   "ShortWord=0, MaxFragments=1, FragmentDelimiter=…")
        statement = sql(
            "SELECT hit.document_id, hit.score, "
            f"ts_headline('{self.headline_config}', s.body, CAST(:q AS tsquery), :options) "
            "FROM (SELECT document_id, ts_rank_cd(words, CAST(:q AS tsquery)) AS score FROM search_index "
            f"WHERE words @@ CAST(:q AS tsquery){scope} ORDER BY score DESC, document_id LIMIT :n OFFSET :skip) AS hit "
            "JOIN search_index s ON s.document_id = hit.document_id ORDER BY hit.score DESC, hit.document_id")
        async with self.engine.begin() as conn:
            await conn.execute(sql(_GENERIC_PLAN))
            rows = (await conn.execute(statement, {"q": tsquery, "tenant": tenant, "options": options,
                                                   "n": limit + 1, "skip": offset})).all()
        hits = [Hit(id=r[0], rank=float(r[1]), snippet=r[2] or "") for r in rows[:limit]]
        return hits, next_cursor(offset, limit, rows)

    async def count(self, text: str, tenant: str | None) -> int:
        from sqlalchemy import text as sql

        scope = "" if tenant is None else " AND tenant = :tenant"
        async with self.engine.begin() as conn:
            await conn.execute(sql(_GENERIC_PLAN))
            return (await conn.execute(sql(f"SELECT count(*) FROM search_index WHERE words @@ CAST(:q AS tsquery){scope}"),
                                       {"q": tsquery_text(parse(text)), "tenant": tenant})).scalar_one()
