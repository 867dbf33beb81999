"""CSV and ZIP bundles of a batch: read back with csv and zipfile."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import attrs
import pytest

from paperchain_sdk import Artifact, Batch, BatchItem, Document, InputError
from paperchain_sdk.testing import check_component, run_component


@pytest.fixture
def batch(paperchain_document, tmp_path, testdata):
    invoice = paperchain_document(
        "invoice.txt", "Invoice 42", text="Invoice 42", tags=("finance", "q1"),
        metadata={"source": "mail", "sender": {"domain": "acme.test"}},
        findings={"stats": {"words": 2, "chars": 10}, "lang": {"language": "en", "scores": [0.9, 0.1]}},
    )
    scan = Document.from_path(testdata / "typewriter.png", findings={"stats": {"words": 80}, "quality": {"dpi": 300}})
    export_file = tmp_path / "scan-export.pdf"
    export_file.write_bytes(b"%PDF-1.4 stored artifact")
    return Batch(id="b-7", workflow="invoices", items=(
        BatchItem(run_id="run-1", status="succeeded", document=invoice, outputs={"total": 42},
                  artifacts=(Artifact(name="invoice.md", media_type="text/markdown", data=b"# Invoice 42\n"),)),
        BatchItem(run_id="run-2", status="succeeded", document=scan,
                  artifacts=(Artifact(name="typewriter.pdf", media_type="application/pdf", path=str(export_file)),
                             Artifact(name="typewriter.pdf", media_type="application/pdf", data=b"same name"))),
        BatchItem(run_id="run-3", status="failed", document=None, outputs={"error": "OCR timed out"}),
    ))


def read_csv(artifact, delimiter=",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(artifact.read_bytes().decode("utf-8"), newline=""), delimiter=delimiter))


def test_csv_one_row_per_run_with_findings_as_columns(specs, batch, outputs):
    artifact = check_component(specs["export.csv"], batch=batch)
    assert artifact.name == "invoices-b-7.csv" and artifact.path.startswith(str(outputs))
    rows = read_csv(artifact)
    assert [r["run_id"] for r in rows] == ["run-1", "run-2", "run-3"]
    first, second, failed = rows
    assert list(first)[:7] == ["run_id", "status", "name", "media_type", "size", "sha256", "tags"]
    assert first["stats.words"] == "2" and second["stats.words"] == "80"
    assert first["lang.language"] == "en" and json.loads(first["lang.scores"]) == [0.9, 0.1]
    assert first["metadata.sender.domain"] == "acme.test" and first["tags"] == "finance;q1"
    assert first["quality.dpi"] == "" and second["quality.dpi"] == "300"
    assert second["sha256"] == batch.items[1].document.id
    assert failed["status"] == "failed" and failed["name"] == "" and failed["stats.words"] == ""
    assert artifact.metadata == {"rows": 3, "columns": len(first)}


def test_csv_delimiter_and_formula_escaping(specs, paperchain_document):
    doc = paperchain_document("report.txt", "x", metadata={"note": "@SUM(A1)", "delta": -3})
    doc = attrs.evolve(doc, name="=cmd|'/C calc'!A0.txt")
    batch = Batch(id="b", workflow="w", items=(BatchItem(run_id="r", status="succeeded", document=doc),))
    rows = read_csv(run_component(specs["export.csv"], batch=batch, options={"delimiter": ";"}), delimiter=";")
    assert rows[0]["name"] == "'=cmd|'/C calc'!A0.txt"
    assert rows[0]["metadata.note"] == "'@SUM(A1)"
    assert rows[0]["metadata.delta"] == "-3"  # numbers are not formulas
    raw = run_component(specs["export.csv"], batch=batch, options={"escape_formulas": False})
    assert read_csv(raw)[0]["name"] == "=cmd|'/C calc'!A0.txt"


def test_csv_of_an_empty_batch_is_a_header(specs):
    artifact = check_component(specs["export.csv"], batch=Batch(id="b", workflow="w"))
    assert artifact.read_bytes().decode() == "run_id,status,name,media_type,size,sha256,tags\r\n"


def test_bundle_holds_originals_artifacts_and_manifest(specs, batch, testdata, outputs):
    artifact = check_component(specs["export.bundle"], batch=batch)
    assert artifact.name == "invoices-b-7.zip" and artifact.path.startswith(str(outputs))
    with zipfile.ZipFile(artifact.path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("002-typewriter/typewriter.png") == (testdata / "typewriter.png").read_bytes()
        assert zf.read("001-invoice/artifacts/invoice.md") == b"# Invoice 42\n"
        assert zf.read("002-typewriter/artifacts/typewriter-2.pdf") == b"same name"
    assert sorted(names) == [
        "001-invoice/artifacts/invoice.md", "001-invoice/invoice.txt",
        "002-typewriter/artifacts/typewriter-2.pdf", "002-typewriter/artifacts/typewriter.pdf",
        "002-typewriter/typewriter.png", "manifest.json",
    ]
    assert manifest["format"] == "paperchain.bundle/1"
    assert manifest["batch"] == {"id": "b-7", "workflow": "invoices"}
    assert manifest["counts"] == {"items": 3, "statuses": {"failed": 1, "succeeded": 2}}
    first, second, failed = manifest["items"]
    assert first["document"]["sha256"] == batch.items[0].document.id and first["outputs"] == {"total": 42}
    assert first["original"] == "001-invoice/invoice.txt"
    assert second["artifacts"][0] == {
        "name": "typewriter.pdf", "media_type": "application/pdf", "size": 24,  # the stored file, streamed
        "sha256": hashlib.sha256(b"%PDF-1.4 stored artifact").hexdigest(),
        "path": "002-typewriter/artifacts/typewriter.pdf",
    }
    assert failed == {
        "folder": "003-run-3", "run_id": "run-3", "status": "failed", "outputs": {"error": "OCR timed out"},
        "document": None, "original": None, "artifacts": [],
    }


def test_bundle_is_reproducible_and_can_leave_originals_out(specs, batch):
    one = run_component(specs["export.bundle"], batch=batch).read_bytes()
    assert run_component(specs["export.bundle"], batch=batch).read_bytes() == one
    slim = run_component(specs["export.bundle"], batch=batch, options={"include_originals": False})
    with zipfile.ZipFile(slim.path) as zf:
        assert "002-typewriter/typewriter.png" not in zf.namelist()
        assert json.loads(zf.read("manifest.json"))["items"][1]["original"] is None


def test_bundle_names_cannot_escape_the_zip(specs, paperchain_document):
    doc = attrs.evolve(paperchain_document("evil.txt", "x"), name="../../etc/passwd")
    batch = Batch(id="../b", workflow="w/x", items=(
        BatchItem(run_id="r", status="succeeded", document=doc,
                  artifacts=(Artifact(name="/abs/../x.md", media_type="text/markdown", data=b"x"),)),
    ))
    artifact = run_component(specs["export.bundle"], batch=batch)
    assert "/" not in artifact.name
    with zipfile.ZipFile(artifact.path) as zf:
        for name in zf.namelist():
            assert not name.startswith("/") and ".." not in name.split("/")
        assert "001-passwd/passwd" in zf.namelist() and "001-passwd/artifacts/x.md" in zf.namelist()


def test_bundle_refuses_a_changed_or_missing_file(specs, paperchain_document, tmp_path, outputs):
    doc = paperchain_document("a.txt", "original")
    (tmp_path / "documents" / "a.txt").write_text("tampered")
    changed = Batch(id="b", workflow="w", items=(BatchItem(run_id="r", status="succeeded", document=doc),))
    with pytest.raises(InputError, match="a.txt.*changed"):
        run_component(specs["export.bundle"], batch=changed)

    gone = Artifact(name="lost.pdf", media_type="application/pdf", path=str(tmp_path / "gone.pdf"))
    item = BatchItem(run_id="r", status="succeeded", document=None, artifacts=(gone,))
    missing = Batch(id="b", workflow="w", items=(item,))
    with pytest.raises(InputError, match="lost.pdf"):
        run_component(specs["export.bundle"], batch=missing)
    assert list(outputs.iterdir()) == [], "failed bundles leave no temporary file behind"
