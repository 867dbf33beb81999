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

It runs on a PostgreSQL ``SqlHandle`` (store/sql.py: the kernel's ``kernel.sql``); its statements
are Core, built once here. The kernel's documents have no trigger keeping this index (the words are
made in Python, above): ``Documents`` queues ``queued()``'s statement with a new document or new
text in the journal's transaction, and re-indexes after a rename, a deletion or a restore.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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

search_index = sa.Table(
    "search_index", sa.MetaData(),  # not the kernel's METADATA: SQLite has FTS5's tables instead
    sa.Column("document_id", sa.Text, primary_key=True), sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False), sa.Column("body", sa.Text, nullable=False),
    sa.Column("words", postgresql.TSVECTOR, nullable=False))
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


_index = search_index.c
# Bind names differ from the columns' (SQLAlchemy reserves those for its own VALUES/SET binds).
_ENTRY = {"document_id": sa.bindparam("e_id"), "tenant": sa.bindparam("e_tenant"), "name": sa.bindparam("e_name"),
          "body": sa.bindparam("e_body"), "words": sa.cast(sa.bindparam("e_words", type_=sa.Text), postgresql.TSVECTOR)}
_INSERT = postgresql.insert(search_index).values(_ENTRY)
_UPSERT = _INSERT.on_conflict_do_update(index_elements=[_index.document_id],
                                        set_={c: _INSERT.excluded[c] for c in ("tenant", "name", "body", "words")})
_INSERT_NEW = _INSERT.on_conflict_do_nothing(index_elements=[_index.document_id])
# An entry's name and text, when the document has one (a deleted document has none).
_UPDATE = sa.update(search_index).where(_index.document_id == sa.bindparam("e_id")).values(
    {c: _ENTRY[c] for c in ("name", "body", "words")})
_REMOVE = sa.delete(search_index).where(_index.document_id == sa.bindparam("e_id"))

# ts_headline's parser reads "<b>" or "<x y>" as an HTML tag and leaves it out of the snippet, where FTS5
# keeps the text as it is: "<" goes in as this character (a blank to the parser) and comes back.
_NOT_A_TAG = "\x01"
_TSQUERY = sa.cast(sa.bindparam("q", type_=sa.Text), postgresql.TSQUERY)
_MATCHES = _index.words.bool_op("@@")(_TSQUERY)
_SCORE = sa.func.ts_rank_cd(_index.words, _TSQUERY, type_=sa.Float).label("score")


def _scoped(statement, scoped: bool):
    return statement.where(_index.tenant == sa.bindparam("tenant")) if scoped else statement


def _query(scoped: bool) -> sa.Select:
    """The page of best hits, then their headlines (ts_headline only for the page, not every match)."""
    hit = _scoped(sa.select(_index.document_id, _SCORE).where(_MATCHES), scoped).order_by(
        sa.desc("score"), _index.document_id).limit(sa.bindparam("n")).offset(sa.bindparam("skip")).subquery("hit")
    entry = search_index.alias("s")
    body = sa.func.replace(entry.c.body, "<", _NOT_A_TAG)  # put back in Python (PostgreSQL's parser drops tags)
    headline = sa.func.ts_headline(sa.cast(sa.bindparam("config", type_=sa.Text), postgresql.REGCONFIG),
                                   body, _TSQUERY, sa.bindparam("options", type_=sa.Text), type_=sa.Text)
    return (sa.select(hit.c.document_id, hit.c.score, headline.label("snippet"))
            .join_from(hit, entry, entry.c.document_id == hit.c.document_id)
            .order_by(hit.c.score.desc(), hit.c.document_id))


# Keyed by whether the query is scoped to one tenant (None: the deployment-wide operator's).
_QUERY = {scoped: _query(scoped) for scoped in (False, True)}
_COUNT = {scoped: _scoped(sa.select(sa.func.count()).select_from(search_index).where(_MATCHES), scoped)
          for scoped in (False, True)}
_OPTIONS = (f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=5, "
            "ShortWord=0, MaxFragments=1, FragmentDelimiter=…")


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
    """Search on PostgreSQL through its ``SqlHandle`` (the deployment's ``Database``)."""

    backend = "postgresql"
    kept_by_triggers = False  # see the module's notes: Documents keeps it

    def __init__(self, sql):
        self.sql = sql
        self.headline_config = "simple"

    async def create(self) -> None:
        """The table, its GIN index and the headline configuration, when missing (each in its own
        transaction: a refused extension leaves the rest in place)."""
        from sqlalchemy.exc import DBAPIError

        async with self.sql.transaction() as tx:
            await tx.execute(sa.schema.CreateTable(search_index, if_not_exists=True))
        try:
            async with self.sql.transaction() as tx:
                for statement in _TENANT_INDEX:
                    await tx.execute(sa.text(statement))
        except DBAPIError as exc:  # no btree_gin (postgresql-contrib) or no right to create it
            log.warning("search: one GIN index over the words, tenants filtered after: %s", exc.orig)
            async with self.sql.transaction() as tx:
                await tx.execute(sa.text(_WORDS_INDEX))
        try:
            async with self.sql.transaction() as tx:
                await tx.execute(sa.text(_HEADLINE_CONFIG))
            self.headline_config = "paperchain_search"
        except DBAPIError as exc:  # no unaccent (postgresql-contrib) or no right to create it
            log.warning("search snippets will not highlight accented words: %s", exc.orig)
            found = await self.sql.first(sa.text("SELECT 1 FROM pg_ts_config WHERE cfgname = 'paperchain_search'"))
            self.headline_config = "paperchain_search" if found else "simple"

    async def index(self, document_id: str, tenant: str, name: str, text: str) -> None:
        await self.index_many([Entry(document_id, tenant, name, text)])

    async def index_many(self, entries: Iterable[Entry]) -> None:
        rows = [_params(e) for e in entries]
        if rows:
            await self.sql.write(_UPSERT, rows)

    def queued(self, entry: Entry, *, new: bool) -> tuple[sa.Executable, dict]:
        """A statement and its parameters for the journal, in the transaction that writes the
        document: a new document's entry (none if the id has one), or new name and text of an
        entry that exists (none if the document is deleted)."""
        return (_INSERT_NEW if new else _UPDATE), _params(entry)

    async def remove(self, document_id: str) -> None:
        await self.sql.write(_REMOVE, {"e_id": document_id})

    async def query(self, text: str, tenant: str | None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[Hit], str | None]:
        tsquery, offset = tsquery_text(parse(text)), decode_cursor(cursor)
        check_limit(limit)
        async with self.sql.transaction() as tx:
            await tx.execute(sa.text(_GENERIC_PLAN))
            rows = (await tx.execute(_QUERY[tenant is not None], {
                "q": tsquery, "tenant": tenant, "config": self.headline_config, "options": _OPTIONS,
                "n": limit + 1, "skip": offset})).all()
        hits = [Hit(id=r.document_id, rank=float(r.score), snippet=(r.snippet or "").replace(_NOT_A_TAG, "<"))
                for r in rows[:limit]]
        return hits, next_cursor(offset, limit, rows)

    async def count(self, text: str, tenant: str | None) -> int:
        async with self.sql.transaction() as tx:
            await tx.execute(sa.text(_GENERIC_PLAN))
            return (await tx.execute(_COUNT[tenant is not None],
                                     {"q": tsquery_text(parse(text)), "tenant": tenant})).scalar_one()


def _params(entry: Entry) -> dict:
    name, text = entry.name or "", entry.text or ""
    return {"e_id": entry.document_id, "e_tenant": entry.tenant or "", "e_name": name, "e_body": text,
            "e_words": tsvector_literal(name, text)}
