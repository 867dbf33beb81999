"""What every document exporter shows, computed once and rendered by each format.

A :class:`Report` holds plain strings: a title, the document's properties, its metadata, its text
(or None when there is none) and one table of rows per analyzer. Formats only decide the markup.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from paperchain_sdk import Document, Findings

NO_TEXT = "No text extracted from this document."
NO_FINDINGS = "No findings: no analyzer has reported on this document."

# XML 1.0 (DOCX) refuses these, and fonts have no glyphs for them; \t and \n are kept.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@attrs.frozen
class Table:
    """A titled two-column table: ``rows`` of ``(label, value)`` strings."""

    title: str
    rows: tuple[tuple[str, str], ...]


@attrs.frozen
class Report:
    """A document ready to render.

    ``text`` is None when the text section is off (``include_text`` False) or there is no text
    (formats then show :data:`NO_TEXT`);
    ``findings`` is None when the findings section is off.
    """

    title: str
    properties: Table
    metadata: Table | None
    include_text: bool
    text: str | None
    findings: tuple[Table, ...] | None


def build_report(doc: Document, options: Any) -> Report:
    """Gather what to show for ``doc`` under ``options`` (a :class:`DocumentSettings`)."""
    title = clean_line(options.title) or clean_line(doc.name) or doc.id[:12]
    properties = Table("Document", (
        ("Name", clean_line(doc.name)),
        ("Media type", doc.media_type),
        ("Size", human_size(doc.size)),
        ("SHA-256", doc.sha256),
        ("Tags", ", ".join(clean_line(t) for t in doc.tags) or "none"),
    ))
    metadata = Table("Metadata", tuple(flatten(doc.metadata))) if doc.metadata else None
    text = clean_text(doc.text) if options.include_text else None
    findings = None
    if options.include_findings:
        findings = tuple(
            Table(clean_line(name), tuple(flatten(findings_data(data)) or [("(empty)", "")]))
            for name, data in doc.findings.items()
        )
    return Report(title, properties, metadata, options.include_text, text or None, findings)


def findings_data(value: Any) -> Any:
    """The JSON data of one analyzer's findings, whether stored as data or as a Findings record."""
    if isinstance(value, Findings):
        return {"summary": value.summary, **value.data} if value.summary else value.data
    return value


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``[("a.b", "1"), ("c", "1, 2")]``.

    Nested mappings become dotted keys; lists of scalars are joined; lists holding mappings are
    indexed (``entities.0.text``) so every value keeps its own row.
    """
    if isinstance(value, Mapping):
        rows = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows if rows or not prefix else [(prefix, "{}")]
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        rows = []
        for index, item in enumerate(value):
            rows.extend(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return rows
    return [(clean_line(prefix) or "value", scalar_text(value))]


def scalar_text(value: Any) -> str:
    """A value as a person reads it: JSON spelling for null and booleans, lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return ", ".join(scalar_text(v) for v in value) or "(none)"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return clean_line(str(value))


def clean_text(text: str | None) -> str:
    """Text fit for every format: normalised line ends, page breaks as blank lines, no control codes."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _CONTROL.sub("", text)
    return text if text.strip() else ""


def clean_line(text: str) -> str:
    """One-line text (titles, table cells): whitespace runs and line breaks become one space."""
    return " ".join(_CONTROL.sub("", text or "").split())


def human_size(size: int) -> str:
    """``1536`` -> ``"1.5 KiB (1,536 bytes)"``."""
    value, unit = float(size), "bytes"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    exact = "1 byte" if size == 1 else f"{size:,} bytes"
    return exact if unit == "bytes" else f"{value:.1f} {unit} ({exact})"


def options_or_default(component: Any, options: Any, cls: type) -> Any:
    """Per-call options, else the deployment settings, else the defaults (direct calls in scripts)."""
    if options is not None:
        return options
    return component.settings if component.settings is not None else cls()


@contextlib.contextmanager
def temporary_output(suffix: str) -> Iterator[str]:
    """A path for a large output the kernel will move into its store; removed if writing fails."""
    fd, path = tempfile.mkstemp(prefix="paperchain-export-", suffix=suffix)
    os.close(fd)
    try:
        yield path
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
