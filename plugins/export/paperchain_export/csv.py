"""``export.csv``: one row per run of a batch, for spreadsheets and pandas.

Columns: ``run_id, status, name, media_type, size, sha256, tags``, then ``metadata.<key>`` and
``<analyzer>.<key>`` for every value any document has (``stats.words``, ``lang.language`` …),
sorted by name. Nested objects give dotted names; lists are written as JSON. A cell a document has
no value for is empty. (``import csv`` below is the standard library: imports are absolute.)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import Any

from paperchain_sdk import Artifact, Batch, BatchItem
from paperchain_sdk.contracts import Exporter

from .names import batch_artifact_name
from .report import findings_data, options_or_default, temporary_output
from .settings import CsvSettings

FIXED = ("run_id", "status", "name", "media_type", "size", "sha256", "tags")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` under ``stats`` -> ``{"stats.a.b": 1}``; lists and scalars stay values."""
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def row_for(item: BatchItem) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": item.run_id, "status": item.status}
    doc = item.document
    if doc is None:
        return row
    row.update(name=doc.name, media_type=doc.media_type, size=doc.size, sha256=doc.sha256, tags=";".join(doc.tags))
    for key, value in doc.metadata.items():
        row.update(flatten(value, f"metadata.{key}"))
    for analyzer, data in doc.findings.items():
        for key, value in flatten(findings_data(data), analyzer).items():
            row[f"findings.{key}" if key in FIXED else key] = value  # an analyzer named "status" …
    return row


def cell(value: Any, escape_formulas: bool) -> Any:
    if value is None:
        return ""
    if isinstance(value, (bool, list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and escape_formulas and value.startswith(_FORMULA_START):
        return "'" + value  # OWASP's advice against CSV injection: shown as text, never run
    return value


def write(batch: Batch, options: CsvSettings, path: str) -> int:
    """Write the batch's table to ``path``; return the number of columns."""
    rows = [row_for(item) for item in batch.items]
    extra = sorted({key for row in rows for key in row} - set(FIXED))
    columns = [*FIXED, *extra]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=options.delimiter)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(column), options.escape_formulas) for column in columns])
    return len(columns)


class CsvExporter(Exporter):
    def export_batch(self, batch: Batch, options: CsvSettings | None = None) -> Artifact:
        options = options_or_default(self, options, CsvSettings)
        with temporary_output(".csv") as path:
            columns = write(batch, options, path)
        return Artifact(
            name=batch_artifact_name(batch, "csv"), media_type="text/csv", path=path,
            metadata={"rows": len(batch.items), "columns": columns},
        )
