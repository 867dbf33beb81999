"""Full-text search over documents' names and text: one interface, one adapter per database.

``Fts5Search`` (SQLite FTS5, ``fts5.py``) and ``PostgresSearch`` (a ``tsvector`` column with a GIN
index, ``postgres.py``) take the same queries (``grammar.py``) and return the same hits; only the
rank differs (FTS5's bm25, PostgreSQL's ``ts_rank_cd``; higher is a better match on both). Both
index words the same way (folded: no case, no accents; no stemming, so English and Spanish are
treated alike), so a query finds the same documents on either.

Tenant rule: ``tenant`` is the caller's tenant ('' for documents of no tenant), or ``ALL_TENANTS``
(None) only for the deployment-wide operator, who sees every tenant's documents.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from paperchain_sdk import InputError

from .grammar import HINT, SearchSyntaxError, parse

ALL_TENANTS = None
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # around matched words in snippets: never in text, so escaping cannot be fooled
SNIPPET_WORDS = 16
MAX_OFFSET = 10_000  # how deep cursors may page


@dataclass(frozen=True)
class Hit:
    id: str
    rank: float  # higher is a better match; comparable within one backend only
    snippet: str  # the text around the match, matched words between MARK_OPEN and MARK_CLOSE


@dataclass(frozen=True)
class Entry:
    """What the index holds of one document."""

    document_id: str
    tenant: str
    name: str
    text: str


class Search(Protocol):
    async def index(self, document_id: str, tenant: str, name: str, text: str) -> None: ...
    async def index_many(self, entries: Iterable[Entry]) -> None: ...
    async def remove(self, document_id: str) -> None: ...
    async def query(self, text: str, tenant: str | None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[Hit], str | None]: ...
    async def count(self, text: str, tenant: str | None) -> int: ...


def marked(snippet: str, open_: str, close: str) -> str:
    """A snippet with its match markers replaced (e.g. by '[' and ']' for plain text)."""
    return snippet.replace(MARK_OPEN, open_).replace(MARK_CLOSE, close)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"s{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (0 for none), or an InputError for one we did not make."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        offset = int(raw[1:]) if raw.startswith("s") else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
    if not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"the cursor {cursor[:40]!r} is not one this search returned.",
                         hint="pass the 'next' value of the previous page unchanged, or leave the cursor out")
    return offset


def check_limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise InputError(f"a search returns 1 to 1000 hits at a time, not {limit}.", hint="pass a limit from 1 to 1000")
    return limit


def next_cursor(offset: int, limit: int, rows: list) -> str | None:
    """The cursor of the page after this one when there is one (rows holds up to limit + 1)."""
    return encode_cursor(offset + limit) if len(rows) > limit and offset + limit <= MAX_OFFSET else None


__all__ = [
    "ALL_TENANTS",
    "HINT",
    "MARK_CLOSE",
    "MARK_OPEN",
    "Entry",
    "Hit",
    "Search",
    "SearchSyntaxError",
    "marked",
    "parse",
]
