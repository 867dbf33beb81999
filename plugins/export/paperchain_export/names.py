"""Names for artifacts and for files inside a bundle, safe on every file system and in ZIPs."""

from __future__ import annotations

import re

from paperchain_sdk import Batch, Document

# Characters Windows, macOS or ZIP tools refuse or treat specially; Unicode letters are fine.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_LENGTH = 120


def safe_name(name: str, fallback: str = "file") -> str:
    """The last path component of ``name``, with unsafe characters replaced: ``../a:b`` -> ``a_b``."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base) > MAX_LENGTH:  # keep the extension when shortening
        stem, dot, ext = base.rpartition(".")
        base = stem[: MAX_LENGTH - len(ext) - 1] + dot + ext if dot and len(ext) <= 10 else base[:MAX_LENGTH]
    return base or fallback


def artifact_name(doc: Document, extension: str) -> str:
    """``invoice.pdf`` exported as markdown -> ``invoice.md``."""
    return f"{safe_name(doc.stem, doc.id[:12])}.{extension}"


def batch_artifact_name(batch: Batch, extension: str) -> str:
    """``<workflow>-<batch id>.<extension>``, e.g. ``invoices-b42.zip``."""
    return f"{safe_name(f'{batch.workflow}-{batch.id}', 'batch')}.{extension}"


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2.ext``, ``name-3.ext`` … if taken; records the answer in ``taken``."""
    candidate, counter = name, 1
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    while candidate.lower() in taken:  # case-insensitive file systems would merge them
        counter += 1
        candidate = f"{stem}-{counter}{dot}{ext}"
    taken.add(candidate.lower())
    return candidate
