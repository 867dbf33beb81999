"""The backfill gives text to documents no workflow has read, then embeds them: plain text and a
born-digital PDF get text and vectors, scans are left for OCR, a broken file is reported by name,
each tenant's text stays its own, and a second backfill has nothing left to do."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import pytest
import sqlalchemy as sa

import paperchain_ai
from paperchain_ai.backfill import backfill
from paperchain_ai.storage import SCHEMA, embedded
from paperchain_sdk.testing import pdf_from_objects

OCTET = {"Content-Type": "application/octet-stream"}


def _pdf(content: bytes) -> bytes:
    """A one-page PDF drawing ``content`` (an empty stream: a page with no text layer, like a scan)."""
    stream = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def _png() -> bytes:
    """A real 1x1 grey PNG (a scan needs OCR, never document.text)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


async def _upload(api, name: str, data: bytes, token) -> str:
    reply = await api.request("POST", f"/api/v1/documents?name={name}", data=data, headers=OCTET, token=token)
    assert reply.status == 201, reply
    return reply.json["id"]


async def test_backfill_extracts_text_first_and_leaves_scans_for_ocr(paperchain_api, texts):
    api = await paperchain_api(paperchain_ai)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    note = await _upload(api, "cat.txt", texts["cat_es"].encode(), acme)
    letter = await _upload(api, "letter.pdf", _pdf(b"BT /F1 18 Tf 72 700 Td (Invoice 2026-114 total 1250 euros) Tj ET"),
                           acme)
    theirs = await _upload(api, "lease.txt", texts["lease_en"].encode(), globex)
    scan_png = await _upload(api, "scan.png", _png(), acme)
    scan_pdf = await _upload(api, "scan.pdf", _pdf(b""), acme)
    broken = await _upload(api, "broken.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", acme)
    kernel = api.kernel

    report = await backfill(kernel, batch=2)
    assert (report.seen, report.extracted, report.embedded, report.needs_ocr) == (6, 3, 3, 2)
    assert [name for name, _ in report.failed] == ["broken.pdf"]
    assert "not a readable PDF" in report.failed[0][1]

    # The text is stored on each document through the kernel, as a document.text step would.
    assert (await kernel.documents.get(note)).text == texts["cat_es"]
    assert "Invoice 2026-114" in (await kernel.documents.get(letter)).text
    for unread in (scan_png, scan_pdf, broken):
        assert (await kernel.documents.get(unread)).text is None
    store = await kernel.storage(SCHEMA)
    tenants = {r.document_id: r.tenant for r in await store.read(sa.select(embedded))}
    assert tenants == {note: "acme", letter: "acme", theirs: "globex"}

    # Searchable by full text and by meaning, each tenant only its own.
    found = (await api.request("GET", "/api/v1/documents/search?q=Invoice", token=acme)).json
    assert letter in str(found)
    hits = (await api.request("GET", "/api/v1/ai/search?q=gato dormido", token=acme)).json["hits"]
    assert hits[0]["document_id"] == note and theirs not in {h["document_id"] for h in hits}
    hits = (await api.request("GET", "/api/v1/ai/search?q=apartment rent", token=globex)).json["hits"]
    assert {h["document_id"] for h in hits} == {theirs}

    again = await backfill(kernel)
    assert (again.extracted, again.embedded) == (0, 0)  # nothing left but what needs OCR or repair
    assert (again.needs_ocr, len(again.failed)) == (2, 1)


@pytest.mark.slow  # a process that starts a kernel
def test_the_command_reports_scans_and_broken_files(paperchain_kernel, tmp_path, texts):
    harness = paperchain_kernel(paperchain_ai)
    for name, data in (("cat.txt", texts["cat_en"].encode()), ("scan.png", _png()), ("broken.pdf", b"%PDF-1.7\n%")):
        (tmp_path / name).write_bytes(data)
        harness.call(harness.kernel.documents.ingest(tmp_path / name))
    harness.call(harness.kernel.journal.flush())
    data_dir = harness.config.data_dir
    harness.close()
    config = tmp_path / "plugins.toml"
    config.write_text(f'[paperchain]\ndata_dir = "{data_dir}"\n[plugins]\nload = ["builtins", "ai"]\n')

    done = subprocess.run([sys.executable, "-m", "paperchain", "--config", str(config), "ai", "embed", "--backfill"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["embedded"], report["extracted"], report["needs_ocr"]) == (1, 1, 1)
    assert [failure["name"] for failure in report["failed"]] == ["broken.pdf"]
    assert "1 scanned documents need OCR" in done.stderr and "examples/workflows/scan.toml" in done.stderr
    assert "not embedded: broken.pdf: " in done.stderr
