"""PDF and DOCX: read back with pypdfium2 and python-docx."""

from __future__ import annotations

import io

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from paperchain_export import fonts
from paperchain_export.report import NO_TEXT
from paperchain_sdk import ConfigError, InputError, MissingDependency
from paperchain_sdk.testing import check_component, run_component

UNICODE = "Señor Müller — Ελληνικά"


def pdf_pages(artifact) -> list[pdfium.PdfPage]:
    return list(pdfium.PdfDocument(artifact.read_bytes()))


def pdf_text(artifact) -> str:
    return "\n".join(page.get_textpage().get_text_range() for page in pdf_pages(artifact))


def image_count(page: pdfium.PdfPage) -> int:
    return len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])))


def docx_text(artifact) -> tuple[str, docx.document.Document]:
    document = docx.Document(artifact.path)
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells), document


def test_pdf_keeps_unicode_text_and_findings(specs, rich_document, outputs):
    artifact = check_component(specs["export.pdf"], document=rich_document)
    assert artifact.name == "invoice.pdf" and artifact.path and artifact.data is None
    assert artifact.path.startswith(str(outputs)), "a big output goes to a temporary file"
    text = pdf_text(artifact)
    for expected in (UNICODE, "<script>alert('x')</script>", "Total: 12 €", "scanner-3", "text.keywords", "top.0.word"):
        assert expected in text
    assert artifact.metadata == {}  # DejaVu Sans draws every character of it


@pytest.mark.parametrize(("page_size", "points"), [("A4", (595, 842)), ("Letter", (612, 792)), ("legal", (612, 1008))])
def test_pdf_page_size(specs, rich_document, page_size, points):
    artifact = run_component(specs["export.pdf"], document=rich_document, options={"page_size": page_size})
    assert tuple(round(v) for v in pdf_pages(artifact)[0].get_size()) == points


def test_pdf_long_text_flows_over_pages(specs, paperchain_document):
    text = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum dolor " * 40 for i in range(60))
    doc = paperchain_document("long.txt", "x", text=text)
    artifact = run_component(specs["export.pdf"], document=doc, options={"font_size": 12})
    pages = pdf_pages(artifact)
    assert len(pages) > 5
    assert "Paragraph 59:" in pages[-1].get_textpage().get_text_range()


def test_pdf_embeds_an_image_document_within_the_page(specs, testdata):
    from paperchain_sdk import Document

    doc = Document.from_path(testdata / "typewriter.png")
    artifact = check_component(specs["export.pdf"], document=doc)
    page = pdf_pages(artifact)[0]
    assert image_count(page) == 1
    image = next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
    left, bottom, right, top = image.get_bounds()
    width, height = page.get_size()
    assert 0 <= left < right <= width and 0 <= bottom < top <= height
    assert NO_TEXT in pdf_text(artifact)

    without = run_component(specs["export.pdf"], document=doc, options={"include_image": False})
    assert image_count(pdf_pages(without)[0]) == 0


def test_pdf_lists_characters_the_font_cannot_draw(specs, paperchain_document, caplog):
    doc = paperchain_document("cjk.txt", "x", text="Chinese 中文 text")
    artifact = run_component(specs["export.pdf"], document=doc)
    assert artifact.metadata["missing_glyphs"] == ["U+4E2D", "U+6587"]
    assert "U+4E2D U+6587" in pdf_text(artifact)
    assert "cannot draw 2 character(s)" in caplog.text


def test_pdf_without_a_font_raises_missing_dependency(specs, rich_document, monkeypatch, outputs):
    monkeypatch.setattr(fonts, "FONT_DIRS", ["/nonexistent/fonts"])
    monkeypatch.setattr(fonts.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependency) as caught:
        run_component(specs["export.pdf"], document=rich_document)
    assert "fonts-dejavu-core" in caught.value.hint and "font_path" in caught.value.hint
    assert list(outputs.iterdir()) == [], "a failed export leaves no temporary file"


def test_pdf_font_path_option(specs, rich_document, tmp_path):
    found = fonts.find_font()
    artifact = run_component(specs["export.pdf"], document=rich_document, options={"font_path": found.regular})
    assert UNICODE in pdf_text(artifact)
    with pytest.raises(ConfigError, match="not a font file"):
        run_component(specs["export.pdf"], document=rich_document, options={"font_path": str(tmp_path / "no.ttf")})


def test_docx_holds_title_tables_text_and_findings(specs, rich_document, outputs):
    artifact = check_component(specs["export.docx"], document=rich_document, options={"title": "Invoice 42"})
    assert artifact.name == "invoice.docx" and artifact.path.startswith(str(outputs))
    text, document = docx_text(artifact)
    assert document.paragraphs[0].text == "Invoice 42" and document.paragraphs[0].style.name == "Title"
    assert document.core_properties.title == "Invoice 42"
    assert document.core_properties.keywords == "finance, 2024"
    for expected in (UNICODE, "<script>alert('x')</script>", "ACME <b>Corp</b>", "vendor.name", "stats", "0.25"):
        assert expected in text
    assert len(document.tables) == 5
    assert [c.text for c in document.tables[0].rows[4].cells] == ["SHA-256", rich_document.id]


def test_docx_without_text_says_so(specs, paperchain_document):
    doc = paperchain_document("empty.txt", "", text=None)
    text, _ = docx_text(check_component(specs["export.docx"], document=doc))
    assert NO_TEXT in text


def test_docx_embeds_an_image_document_scaled_to_the_page(specs, testdata):
    from paperchain_sdk import Document

    doc = Document.from_path(testdata / "typewriter.png")
    artifact = check_component(specs["export.docx"], document=doc)
    document = docx.Document(artifact.path)
    assert len(document.inline_shapes) == 1
    shape, section = document.inline_shapes[0], document.sections[0]
    assert shape.width <= section.page_width - section.left_margin - section.right_margin
    assert shape.height <= section.page_height - section.top_margin - section.bottom_margin


def test_rotated_photo_is_embedded_upright(specs, paperchain_document):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.new("RGB", (400, 200), "white").save(buffer, format="JPEG", exif=exif, dpi=(100, 100))
    doc = paperchain_document("photo.jpg", buffer.getvalue())
    assert doc.media_type == "image/jpeg"
    shape = docx.Document(run_component(specs["export.docx"], document=doc).path).inline_shapes[0]
    assert shape.height > shape.width


@pytest.mark.parametrize("name", ["export.pdf", "export.docx"])
def test_undecodable_image_is_an_input_error_naming_the_file(specs, paperchain_document, testdata, outputs, name):
    truncated = (testdata / "typewriter.png").read_bytes()[:5000]
    doc = paperchain_document("scan-0007.png", truncated)
    assert doc.media_type == "image/png"
    with pytest.raises(InputError, match="scan-0007.png"):
        run_component(specs[name], document=doc)
    garbage = paperchain_document("fake.jpg", b"not a picture at all", media_type="image/jpeg")
    with pytest.raises(InputError, match="fake.jpg"):
        run_component(specs[name], document=garbage)
    assert list(outputs.iterdir()) == []


@pytest.mark.parametrize("name", ["export.pdf", "export.docx"])
def test_pdf_document_exports_its_metadata(specs, testdata, name):
    from paperchain_sdk import Document

    doc = Document.from_path(testdata / "skew.pdf", text="Brochure", findings={"stats": {"words": 1}})
    artifact = check_component(specs[name], document=doc)
    text = pdf_text(artifact) if name == "export.pdf" else docx_text(artifact)[0]
    assert "skew.pdf" in text and "application/pdf" in text and "Brochure" in text and "words" in text
