"""Cutting a document's text into overlapping chunks of words, each with its page.

The kernel's text extraction joins PDF pages with a form feed (``\\f``); a chunk never spans two
pages, so a hit can say where it is. Text without form feeds has no page numbers (``None``).
"""

from __future__ import annotations

import attrs

SNIPPET_WORDS = 32


@attrs.frozen
class Chunk:
    ordinal: int  # position in the document, from 0
    page: int | None  # 1-based page, None for text without pages
    text: str


def chunk_text(text: str | None, *, words: int = 200, overlap: int = 40) -> list[Chunk]:
    """The chunks of ``text``: ``words`` words each, each repeating the last ``overlap`` of the
    one before (on the same page). Empty or blank text has no chunks."""
    if not 0 <= overlap < words:
        raise ValueError(f"overlap ({overlap}) must be at least 0 and less than words ({words})")
    if not text:
        return []
    pages = text.split("\f")
    paged = len(pages) > 1
    chunks: list[Chunk] = []
    step = words - overlap
    for number, page in enumerate(pages, start=1):
        tokens = page.split()
        start = 0
        while start < len(tokens):
            piece = tokens[start:start + words]
            chunks.append(Chunk(len(chunks), number if paged else None, " ".join(piece)))
            if start + words >= len(tokens):
                break
            start += step
    return chunks


def snippet(text: str, words: int = SNIPPET_WORDS) -> str:
    """The start of a chunk, for a search hit."""
    tokens = text.split()
    return " ".join(tokens[:words]) + (" …" if len(tokens) > words else "")
