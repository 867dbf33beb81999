"""``export.text``: a plain-text report, readable in a terminal or an e-mail body."""

from __future__ import annotations

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .names import artifact_name
from .report import NO_FINDINGS, NO_TEXT, Table, build_report, options_or_default
from .settings import DocumentSettings


def heading(title: str, underline: str) -> str:
    return f"{title}\n{underline * max(len(title), 3)}"


def table(t: Table, underline: str = "-") -> str:
    width = max((len(label) for label, _ in t.rows), default=0)
    rows = [f"{label + ':':<{width + 1}} {value}".rstrip() for label, value in t.rows]
    return "\n".join([heading(t.title, underline), *rows])


def render(doc: Document, options: DocumentSettings) -> str:
    report = build_report(doc, options)
    parts = [heading(report.title, "="), table(report.properties)]
    if report.metadata:
        parts.append(table(report.metadata))
    if report.include_text:
        parts.append(heading("Text", "-") + "\n" + (report.text.strip("\n") if report.text else f"({NO_TEXT})"))
    if report.findings is not None:
        parts.append(heading("Findings", "-"))
        parts += [table(t, "~") for t in report.findings] or [f"({NO_FINDINGS})"]
    return "\n\n".join(parts) + "\n"


class TextExporter(Exporter):
    def export(self, doc: Document, options: DocumentSettings | None = None) -> Artifact:
        options = options_or_default(self, options, DocumentSettings)
        return Artifact(name=artifact_name(doc, "txt"), media_type="text/plain", data=render(doc, options).encode())
