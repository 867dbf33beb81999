"""``export.json``: one document as JSON, for programs rather than people.

The structure (``format`` names its version; a change that breaks readers bumps it)::

    {
      "format": "paperchain.document/1",
      "title": "invoice.pdf",                 # the title option, else the document's name
      "document": {
        "id": "<document id>", "name": "invoice.pdf", "media_type": "application/pdf",
        "size": 1234, "sha256": "<sha256>", "tags": ["..."], "metadata": {...}
      },
      "text": "..." | null,                   # only with include_text; null when none was extracted
      "findings": {"<analyzer>": <its JSON data>, ...}   # only with include_findings
    }

Keys keep this order; the text is exactly the document's (not cleaned up as for reading), and
findings are the analyzers' own data, not flattened. Output is UTF-8 and ends with a newline.
"""

from __future__ import annotations

import json
from typing import Any

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .names import artifact_name
from .report import clean_line, findings_data, options_or_default
from .settings import JsonSettings

FORMAT = "paperchain.document/1"


def as_dict(doc: Document, options: JsonSettings) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "title": clean_line(options.title) or doc.name,
        "document": {
            "id": doc.id,
            "name": doc.name,
            "media_type": doc.media_type,
            "size": doc.size,
            "sha256": doc.sha256,
            "tags": list(doc.tags),
            "metadata": doc.metadata,
        },
    }
    if options.include_text:
        data["text"] = doc.text if doc.text else None
    if options.include_findings:
        data["findings"] = {name: findings_data(value) for name, value in doc.findings.items()}
    return data


def render(doc: Document, options: JsonSettings) -> str:
    # default=str: a stray datetime in metadata becomes its text instead of failing the export.
    return json.dumps(as_dict(doc, options), indent=options.indent or None, ensure_ascii=False, default=str) + "\n"


class JsonExporter(Exporter):
    def export(self, doc: Document, options: JsonSettings | None = None) -> Artifact:
        options = options_or_default(self, options, JsonSettings)
        data = render(doc, options).encode()
        return Artifact(name=artifact_name(doc, "json"), media_type="application/json", data=data)
