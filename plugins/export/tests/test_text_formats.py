"""Markdown, HTML, JSON and plain text: parsed back and checked."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from paperchain_export.report import NO_FINDINGS, NO_TEXT
from paperchain_sdk.testing import check_component, run_component

UNICODE = "Señor Müller — Ελληνικά"  # as in conftest's rich_document

TEXT_EXPORTERS = ["export.markdown", "export.html", "export.json", "export.text"]


def exported(specs, name, doc, **options) -> str:
    artifact = check_component(specs[name], document=doc, options=options)
    return artifact.read_bytes().decode("utf-8")


class _Page(HTMLParser):
    """Collects tag names and the page's text, as a browser would see it."""

    def __init__(self):
        super().__init__()
        self.tags, self.chunks = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@pytest.mark.parametrize("name", TEXT_EXPORTERS)
def test_every_format_shows_name_text_metadata_and_findings(specs, rich_document, name):
    out = exported(specs, name, rich_document)
    for expected in ("invoice.txt", UNICODE, rich_document.id, "scanner-3", "stats", "words", "12"):
        assert expected in out, f"{name} lost {expected!r}"
    artifact = run_component(specs[name], document=rich_document)
    assert artifact.name == f"invoice.{specs[name].extension}"


@pytest.mark.parametrize("name", TEXT_EXPORTERS)
def test_document_without_text_says_so(specs, paperchain_document, name):
    doc = paperchain_document("blank.png", b"\x89PNG\r\n\x1a\n", text=None)
    out = exported(specs, name, doc)
    if name == "export.json":
        assert json.loads(out)["text"] is None
    else:
        assert NO_TEXT in out and NO_FINDINGS in out


@pytest.mark.parametrize("name", ["export.markdown", "export.html", "export.text"])
def test_sections_can_be_left_out_and_title_set(specs, rich_document, name):
    out = exported(specs, name, rich_document, title="Quarterly report", include_text=False, include_findings=False)
    assert "Quarterly report" in out
    assert UNICODE not in out and NO_TEXT not in out
    assert "words" not in out


def test_markdown_is_commonmark_with_tables_and_verbatim_text(specs, rich_document):
    out = exported(specs, "export.markdown", rich_document)
    tokens = MarkdownIt("commonmark").enable("table").parse(out)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == ["invoice.txt", "Document", "Metadata", "Text", "Findings", "stats", "text.keywords", "lang"]
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    # The text holds ``` and *…*: the fence must keep it byte for byte.
    assert fences[0].content == rich_document.text + "\n"
    assert sum(t.type == "table_open" for t in tokens) == 5  # document, metadata, one per analyzer

    cells = [t.content for t in tokens if t.type == "inline"]
    assert "text.keywords" in cells and "top.0.word" in cells


def test_markdown_escapes_values(specs, paperchain_document):
    doc = paperchain_document(
        "a*b*c_d_|e.txt", "x", text=None, metadata={"note": "<b>bold</b> [link](http://x) `code` # x"}
    )
    out = exported(specs, "export.markdown", doc, include_text=False, include_findings=False)
    html = MarkdownIt("commonmark").enable("table").render(out)
    assert "<em>" not in html and "<b>" not in html and "<a " not in html and "<code>" not in html
    assert "a*b*c_d_|e.txt" in html
    assert "&lt;b&gt;bold&lt;/b&gt; [link](http://x) `code` # x" in html


def test_html_escapes_everything(specs, rich_document):
    out = exported(specs, "export.html", rich_document, title="<img src=x onerror=alert(1)>")
    assert "<script>" not in out and "<img" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in out
    page = _Page()
    page.feed(out)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    # What a reader sees is the original text, markup included as text.
    assert "<script>alert('x')</script>" in page.text
    assert "ACME <b>Corp</b>" in page.text
    assert page.tags.count("table") == 5


def test_json_round_trip(specs, rich_document):
    data = json.loads(exported(specs, "export.json", rich_document))
    assert list(data) == ["format", "title", "document", "text", "findings"]
    assert data["format"] == "paperchain.document/1"
    assert data["text"] == rich_document.text  # exact, not cleaned up
    assert data["findings"] == rich_document.findings
    assert data["document"] == {
        "id": rich_document.id, "name": "invoice.txt", "media_type": rich_document.media_type,
        "size": rich_document.size, "sha256": rich_document.id, "tags": ["finance", "2024"],
        "metadata": rich_document.metadata,
    }


def test_json_compact_and_sections_off(specs, rich_document):
    out = exported(specs, "export.json", rich_document, indent=0, include_text=False, include_findings=False)
    assert out.count("\n") == 1
    assert set(json.loads(out)) == {"format", "title", "document"}


def test_text_report_aligns_fields(specs, rich_document):
    out = exported(specs, "export.text", rich_document)
    assert out.startswith("invoice.txt\n===========\n")
    assert "Media type: text/plain\n" in out
    assert "vendor.name: ACME <b>Corp</b>" in out
    assert "keywords:    invoice, total" in out


def test_control_characters_and_page_breaks_are_cleaned(specs, paperchain_document):
    doc = paperchain_document("ocr.txt", "x", text="page one\x00\x07\fpage two\r\nend")
    out = exported(specs, "export.text", doc)
    assert "page one\n\npage two\nend" in out
    assert "\x00" not in out and "\x07" not in out and "\f" not in out
