"""The ai-intake example (examples/workflows/ai-intake.toml) end to end: real OCR of rendered
scans, a scripted model that decides from the OCR'd text, and each document routed by that
decision: the invoice's fields into the CSV and a notification, the contract summarized and
notarized, the rest tagged for review."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

import paperchain_ai
from paperchain_ai.testing import fenced_document, scripted_plugin

pytestmark = pytest.mark.slow  # OCR of three pages

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def scan(path: Path, lines: list[str]) -> Path:
    """A page as a scanner would give it: black text on white, as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), 30)
    page = Image.new("L", (1700, 120 + 52 * len(lines)), 255)
    draw = ImageDraw.Draw(page)
    for n, line in enumerate(lines):
        draw.text((80, 60 + 52 * n), line, font=font, fill=0)
    page.save(path, dpi=(300, 300))
    return path


def model(request):
    """Reads what the step fenced (the OCR'd text) and answers as a careful model would."""
    text = fenced_document(request)
    task = request.messages[0]["content"]
    if "classify" in task:
        label = "invoice" if "invoice" in text.lower() else "contract" if "agreement" in text.lower() else "other"
        return json.dumps({"label": label, "confidence": 0.9})
    if "extract" in task:
        def find(pattern):
            match = re.search(pattern, text)
            return match.group(1) if match else None

        return json.dumps({"vendor": text.splitlines()[0].strip(), "number": find(r"Invoice (\S+)"),
                           "date": find(r"Date: (\d{4}-\d{2}-\d{2})"), "total": float(find(r"Total due £([\d.]+)")),
                           "currency": "GBP", "iban": find(r"IBAN ([A-Z0-9]+)")})
    return json.dumps({"summary": "A service agreement between Northwind Traders and ACME Document Services."})


def test_ai_intake_routes_each_scan_by_the_models_decision(paperchain_kernel, tmp_path):
    if not FONT.exists():
        pytest.skip("needs DejaVu Sans (fonts-dejavu-core) to draw the scans")
    import paperchain_export
    import paperchain_ledger
    import paperchain_notify
    import paperchain_ocr

    invoice_lines = (EXAMPLES / "documents" / "invoice-2026-031.txt").read_text(encoding="utf-8").splitlines()
    scans = [scan(tmp_path / "invoice.png", [invoice_lines[0], "Invoice 2026-031   Date: 2026-10-14",
                                              "Total due £903.48", "Payment to IBAN GB33BUKB20201555555555."]),
             scan(tmp_path / "agreement.png", ["SERVICE AGREEMENT", "This Service Agreement is made on 1 October 2026",
                                               "between Northwind Traders and ACME Document Services."]),
             scan(tmp_path / "minutes.png", ["Minutes of the team meeting", "We chose a new printer for the office."])]
    provider = scripted_plugin(model)
    harness = paperchain_kernel(paperchain_ai, paperchain_ocr, paperchain_export, paperchain_notify, paperchain_ledger,
                                provider, config={"components": {
                                    step: {"provider": provider.name} for step in ("ai.classify", "ai.extract", "ai.summarize")}})
    outcome = harness.run(EXAMPLES / "workflows" / "ai-intake.toml", files=scans)
    runs = {run.document_name: run for run in outcome.runs}
    assert outcome.status == "succeeded", {name: run.error for name, run in runs.items()}

    invoice, contract, other = runs["invoice.png"], runs["agreement.png"], runs["minutes.png"]
    assert [r.steps["classify"].outputs["label"] for r in (invoice, contract, other)] == ["invoice", "contract", "other"]
    status = {name: {step: s.status for step, s in run.steps.items()} for name, run in runs.items()}
    assert status["invoice.png"] == {"text": "skipped", "ocr": "succeeded", "classify": "succeeded", "extract": "succeeded",
                                     "tell-accounts": "succeeded", "summary": "skipped", "notarize": "skipped"}
    assert status["agreement.png"] == {"text": "skipped", "ocr": "succeeded", "classify": "succeeded", "extract": "skipped",
                                       "tell-accounts": "skipped", "summary": "succeeded", "notarize": "succeeded"}
    assert status["minutes.png"] == {"text": "skipped", "ocr": "succeeded", "classify": "succeeded", "extract": "skipped",
                                     "tell-accounts": "skipped", "summary": "skipped", "notarize": "skipped"}
    fields = {"vendor": "ACME Office Supplies Ltd.", "number": "2026-031", "date": "2026-10-14", "total": 903.48,
              "currency": "GBP", "iban": "GB33BUKB20201555555555"}
    assert invoice.steps["extract"].outputs == {**fields, "_grounding": {"checked": True, "unsupported": [], "filled": []}}
    assert contract.steps["notarize"].outputs.get("index") is not None

    tags = {name: harness.call(harness.kernel.documents.get(run.document_id)).tags for name, run in runs.items()}
    assert "review" in tags["minutes.png"] and "review" not in tags["invoice.png"]

    table = next(a for a in outcome.batch_run.artifacts if a.name.endswith(".csv"))
    text = harness.kernel.blobs.read_bytes(table.sha256).decode("utf-8")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["invoice.png"]["metadata.invoice.iban"] == "GB33BUKB20201555555555"
    assert rows["invoice.png"]["metadata.invoice.total"] == "903.48"
    assert rows["agreement.png"]["metadata.invoice.vendor"] == ""
