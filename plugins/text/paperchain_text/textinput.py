"""Getting a document's text, with the errors every analyzer gives."""

from __future__ import annotations

import re

from paperchain_sdk import Document, InputError

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")


def require_text(doc: Document, analyzer: str) -> str:
    """The document's text; InputError if no step has extracted any yet."""
    if doc.text is None:
        raise InputError(
            f"{analyzer} needs the document's text, and {doc.name!r} has none yet "
            f"(it is {doc.media_type}; a scan has no text until it is OCRed).",
            hint="add a 'document.text' step (or an OCR step for scans) before this one, and list it in 'needs'",
        )
    return doc.text


def clip(text: str, max_chars: int) -> tuple[str, bool]:
    """At most ``max_chars`` characters, cut at a space where possible; and whether it was cut."""
    if len(text) <= max_chars:
        return text, False
    cut = text.rfind(" ", max_chars // 2, max_chars)
    return text[: cut if cut > 0 else max_chars], True


def sentences(text: str) -> list[str]:
    """Sentences split at terminal punctuation followed by space, and at blank lines."""
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def detected_language(doc: Document, text: str) -> str | None:
    """The language text.language found for this document, else detect it now (None if unknown)."""
    found = doc.findings.get("text.language")
    if isinstance(found, dict) and found.get("language"):
        return found["language"]
    from .language import detect

    result = detect(text[:20_000], candidates=1)
    return result["language"]
