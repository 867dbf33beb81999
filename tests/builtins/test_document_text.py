"""document.text: plain text and born-digital PDFs, and a clear error for every input it cannot read."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from paperchain.builtins.document_text import DocumentText, DocumentTextSettings
from paperchain_sdk import (
    ActionSpec,
    ConfigError,
    Document,
    DocumentUpdate,
    InputError,
    PaperchainError,
    Result,
)
from paperchain_sdk.testing import check_component, pdf_from_objects, run_component

SPEC = ActionSpec(
    name="document.text",
    impl="paperchain.builtins.document_text:DocumentText",
    settings=DocumentTextSettings,
    cpu_bound=True,
    summary="Extract the text of a plain-text or born-digital PDF document",
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SAMPLES = Path(os.environ.get("PAPERCHAIN_TESTDATA", "/work/shared/testdata")) / "documents"
PAGES = ["First page says hello.", "Zweite Seite: Grüße aus Köln, café.", "Third and last page."]


def sample(name: str) -> Document:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample document {path} not found (set PAPERCHAIN_TESTDATA)")
    return Document.from_path(path)


def make_pdf(pages: list[str], **encryption) -> bytes:
    fpdf = pytest.importorskip("fpdf", reason="building test PDFs needs fpdf2 (test extra)")
    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=14)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.cell(text=text)
    if encryption:
        pdf.set_encryption(**encryption)  # RC4: needs nothing beyond fpdf2
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def born_digital(tmp_path_factory) -> Document:
    path = tmp_path_factory.mktemp("pdf") / "letter.pdf"
    path.write_bytes(make_pdf(PAGES))
    return Document.from_path(path)


def fails(document, exc=InputError, **options) -> PaperchainError:
    """Run document.text and return the error it raised, which must be exactly ``exc``."""
    with pytest.raises(exc) as info:
        run_component(SPEC, document=document, options=options)
    assert type(info.value) is exc
    return info.value


# --- plain text ---------------------------------------------------------------------------------


def test_plain_text_passes_the_action_contract(paperchain_document):
    doc = paperchain_document("note.txt", "Pay invoice 42\r\nby Friday.\n")
    assert SPEC.load() is DocumentText
    result = check_component(SPEC, document=doc)
    assert isinstance(result, Result)
    assert result.outputs == {
        "pages": 0,
        "characters": 26,
        "words": 5,
        "media_type": "text/plain",
        "empty_pages": [],
    }
    assert result.document == DocumentUpdate(text="Pay invoice 42\nby Friday.\n")
    pickle.loads(pickle.dumps(result))  # it comes back from the process pool


def test_utf8_byte_order_mark_is_stripped(paperchain_document):
    doc = paperchain_document("bom.txt", "\ufeffNaïve résumé".encode("utf-8"))
    assert run_component(SPEC, document=doc).document.text == "Naïve résumé"


def test_utf16_with_byte_order_mark(paperchain_document):
    doc = paperchain_document("wide.txt", "Grüße, 世界".encode("utf-16"))
    assert doc.media_type == "application/octet-stream"  # the sniffer sees NULs; the BOM says text
    assert run_component(SPEC, document=doc).document.text == "Grüße, 世界"


def test_json_is_text(paperchain_document):
    doc = paperchain_document("data.json", '{"total": "12.50 €"}')
    result = run_component(SPEC, document=doc)
    assert result.outputs["media_type"] == "application/json"
    assert result.document.text == '{"total": "12.50 €"}'


def test_non_utf8_text_names_the_file_and_the_encoding_option(paperchain_document):
    doc = paperchain_document("legacy.txt", "Café crème à 3 €".encode("cp1252"))
    err = fails(doc)
    assert "legacy.txt is not UTF-8 text" in err.message
    assert "offset 3" in err.message
    assert "encoding" in err.hint


@pytest.mark.parametrize("media_type", [None, "text/plain"])
def test_non_utf8_text_with_the_encoding_option(paperchain_document, media_type):
    fields = {"media_type": media_type} if media_type else {}
    doc = paperchain_document("legacy.txt", "Café crème à 3 €".encode("cp1252"), **fields)
    result = run_component(SPEC, document=doc, options={"encoding": "cp1252"})
    assert result.document.text == "Café crème à 3 €"


def test_wrong_fallback_encoding_is_reported(paperchain_document):
    doc = paperchain_document("legacy.txt", "Café".encode("cp1252"), media_type="text/plain")
    err = fails(doc, encoding="ascii")
    assert "legacy.txt is neither UTF-8 nor ascii text" in err.message


def test_unknown_encoding_is_a_config_error(paperchain_document):
    fails(paperchain_document("a.txt", "x"), ConfigError, encoding="klingon")


def with_text(result):
    """The step's outputs plus the text it gave the document, for compact assertions."""
    return {**result.outputs, "text": result.document.text}


# --- born-digital PDFs --------------------------------------------------------------------------


def test_born_digital_pdf(born_digital):
    result = check_component(SPEC, document=born_digital)
    out = with_text(result)
    assert "text" not in result.outputs  # the text lives on the document, once
    assert out["text"] == "\f".join(PAGES)
    assert out["text"].split("\f")[1] == "Zweite Seite: Grüße aus Köln, café."
    assert (out["pages"], out["empty_pages"], out["media_type"]) == (3, [], "application/pdf")
    assert out["words"] == sum(len(page.split()) for page in PAGES)
    assert out["characters"] == len(out["text"])
    assert result.document.text == out["text"]


@pytest.mark.parametrize(
    "pages, expected",
    [("2", [2]), ("1,3", [1, 3]), ("2-", [2, 3]), (" 3 , 1-2 ", [1, 2, 3]), ("1-2,2", [1, 2])],
)
def test_page_ranges(born_digital, pages, expected):
    out = with_text(run_component(SPEC, document=born_digital, options={"pages": pages}))
    assert out["text"] == "\f".join(PAGES[n - 1] for n in expected)
    assert out["pages"] == len(expected)


@pytest.mark.parametrize("pages", ["3-1", "0", "one", "1,,2", "-2", "1-2-3"])
def test_nonsense_page_ranges_are_config_errors(born_digital, pages):
    err = fails(born_digital, ConfigError, pages=pages)
    assert "Invalid settings" in err.message
    with pytest.raises(ValueError, match=r"pages '.*'"):
        DocumentTextSettings(pages=pages)


def test_page_range_validation_says_what_is_wrong():
    with pytest.raises(ValueError, match="runs backwards; write 1-3"):
        DocumentTextSettings(pages="3-1")
    with pytest.raises(ValueError, match="numbered from 1"):
        DocumentTextSettings(pages="0-2")


@pytest.mark.parametrize("pages", ["4", "2-5"])
def test_page_beyond_the_document(born_digital, pages):
    err = fails(born_digital, pages=pages)
    assert "letter.pdf has 3 pages" in err.message


def test_max_pages(born_digital):
    err = fails(born_digital, max_pages=2)
    assert "letter.pdf has 3 pages to read, more than max_pages (2)" in err.message
    assert "pages" in err.hint
    out = with_text(run_component(SPEC, document=born_digital, options={"max_pages": 2, "pages": "1-2"}))
    assert out["pages"] == 2


def test_encrypted_pdf(paperchain_document):
    data = make_pdf(["Salary: 1 million"], owner_password="boss", user_password="open sesame")
    doc = paperchain_document("secret.pdf", data)
    assert "needs a password" in fails(doc).message
    err = fails(doc, password="wrong")
    assert "secret.pdf is an encrypted PDF and the password given does not open it" in err.message
    assert "password" in err.hint
    out = with_text(run_component(SPEC, document=doc, options={"password": "open sesame"}))
    assert out["text"] == "Salary: 1 million"


def test_password_stays_out_of_reprs():
    assert "hunter2" not in repr(DocumentTextSettings(password="hunter2"))


# --- PDFs it cannot read ------------------------------------------------------------------------


def test_not_a_pdf_at_all():
    err = fails(sample("invalid.pdf"))
    assert "invalid.pdf is not a readable PDF" in err.message
    assert err.hint


def test_truncated_pdf(paperchain_document):
    data = make_pdf(PAGES)
    err = fails(paperchain_document("cut.pdf", data[: len(data) // 2]))
    assert "cut.pdf is not a readable PDF: it is truncated, damaged" in err.message


def test_zero_page_pdf(paperchain_document):
    data = pdf_from_objects([b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>"])
    doc = paperchain_document("hollow.pdf", data)
    assert "hollow.pdf is a PDF with no pages" in fails(doc).message


def test_damaged_page(paperchain_document):
    # The page tree lists a second page whose object does not exist.
    catalog, tree = b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R 9 0 R]/Count 2>>"
    page = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>"
    doc = paperchain_document("torn.pdf", pdf_from_objects([catalog, tree, page]))
    err = fails(doc, allow_empty=True)
    assert "torn.pdf: page 2 is damaged" in err.message
    assert "pages option" in err.hint
    out = with_text(run_component(SPEC, document=doc, options={"pages": "1", "allow_empty": True}))
    assert out["empty_pages"] == [1]


@pytest.mark.parametrize("name", ["trivial.pdf", "no_contents.pdf", "skew.pdf", "graph.pdf"])
def test_pdf_without_a_text_layer(name):
    # An empty page, a page with no /Contents, a scan and a rendered graph: one page each, no text.
    doc = sample(name)
    err = fails(doc)
    assert f"{name} has no text layer" in err.message
    assert "paperchain-ocr" in err.hint and "allow_empty" in err.hint
    out = with_text(run_component(SPEC, document=doc, options={"allow_empty": True}))
    assert (out["text"], out["words"], out["pages"], out["empty_pages"]) == ("", 0, 1, [1])


def test_scanned_multipage_with_one_ocr_layer():
    # multipage.pdf: six scans; only page 4 (a chart) carries a text layer.
    doc = sample("multipage.pdf")
    out = with_text(run_component(SPEC, document=doc))
    assert out["pages"] == 6
    assert out["empty_pages"] == [1, 2, 3, 5, 6]
    page4 = out["text"].split("\f")[3]
    assert "Percentage" in page4 and "Oppose" in page4
    assert "\r" not in out["text"]
    assert "no text layer in pages 1-3" in fails(doc, pages="1-3").message
    assert with_text(run_component(SPEC, document=doc, options={"pages": "4"}))["text"] == page4


# --- other media types --------------------------------------------------------------------------


def test_image_needs_ocr():
    err = fails(sample("typewriter.png"))
    assert "typewriter.png is an image (image/png)" in err.message and "OCR" in err.message
    assert "paperchain-ocr" in err.hint


@pytest.mark.parametrize(
    "name, content, media_type",
    [
        ("blob.bin", b"\x00\x01\x02binary", "application/octet-stream"),
        ("report.docx", b"PK\x03\x04rest of a zip", DOCX),
        ("fake.txt", b"text\x00with NULs", "application/octet-stream"),
    ],
)
def test_other_binary_types(paperchain_document, name, content, media_type):
    err = fails(paperchain_document(name, content))
    assert f"{name} is {media_type}, which document.text cannot read" in err.message
    assert "PDF" in err.hint and "text" in err.hint


@pytest.mark.parametrize("name, media_type", [("gone.pdf", "application/pdf"), ("gone.txt", "text/plain")])
def test_file_missing_from_the_store(tmp_path, name, media_type):
    doc = Document(id="0" * 64, name=name, media_type=media_type, size=1, path=str(tmp_path / name))
    err = fails(doc)
    assert err.message.startswith(f"{name} could not be")
    assert "exists" in err.hint


def test_run_without_a_document():
    assert "needs a document" in fails(None).message


def test_errors_survive_the_process_pool(paperchain_document):
    err = fails(paperchain_document("blob.bin", b"\x00"))
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.message, again.hint) == (InputError, err.message, err.hint)


# --- packaging ----------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_pypdfium2():
    import paperchain

    core = str(Path(paperchain.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [core, os.environ.get("PYTHONPATH")]))}
    code = (
        "import sys, paperchain.builtins.document_text as m; "
        "assert m.DocumentText and m.DocumentTextSettings; "
        "print('pypdfium2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
