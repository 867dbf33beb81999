"""``export.markdown``: CommonMark with GFM pipe tables.

Values are backslash-escaped so a name like ``a*b*`` stays literal, and the document's text sits in
a fenced block longer than any backtick run inside it, so it comes out verbatim whatever it holds.
"""

from __future__ import annotations

import re

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .names import artifact_name
from .report import NO_FINDINGS, NO_TEXT, Table, build_report, options_or_default
from .settings import DocumentSettings

# Punctuation that can open an inline construct (emphasis, code, links, HTML, entities) or end a cell.
_INLINE = re.compile(r"([\\`*_\[\]<>|~&#])")


def escape(text: str) -> str:
    return _INLINE.sub(r"\\\1", text)


def fence_for(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def table(t: Table, level: int = 2) -> str:
    lines = [f"{'#' * level} {escape(t.title)}", "", "| Field | Value |", "| --- | --- |"]
    lines += [f"| {escape(label)} | {escape(value)} |" for label, value in t.rows]
    return "\n".join(lines)


def render(doc: Document, options: DocumentSettings) -> str:
    report = build_report(doc, options)
    parts = [f"# {escape(report.title)}", table(report.properties)]
    if report.metadata:
        parts.append(table(report.metadata))
    if report.include_text:
        if report.text:
            body = report.text.rstrip("\n")
            fence = fence_for(body)
            parts.append(f"## Text\n\n{fence}text\n{body}\n{fence}")
        else:
            parts.append(f"## Text\n\n*{escape(NO_TEXT)}*")
    if report.findings is not None:
        parts.append("## Findings")
        parts += [table(t, level=3) for t in report.findings] or [f"*{escape(NO_FINDINGS)}*"]
    return "\n\n".join(parts) + "\n"


class MarkdownExporter(Exporter):
    def export(self, doc: Document, options: DocumentSettings | None = None) -> Artifact:
        options = options_or_default(self, options, DocumentSettings)
        return Artifact(
            name=artifact_name(doc, "md"), media_type="text/markdown", data=render(doc, options).encode()
        )
