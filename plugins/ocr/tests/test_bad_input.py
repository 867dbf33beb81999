"""Bad input fails with a clear error, never a traceback: each case the issue names."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib

import pytest

from paperchain_sdk import InputError, MissingDependency


def _png_header_only(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


def test_missing_tesseract_names_what_to_install(recognize, documents):
    with pytest.raises(MissingDependency) as caught:
        recognize(documents / "crom.png", tesseract="/nonexistent/bin/tesseract")
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in str(caught.value)


def test_preprocess_works_without_tesseract(specs, documents):
    from paperchain_sdk import Document
    from paperchain_sdk.testing import run_component

    result = run_component(specs["ocr.preprocess"], document=Document.from_path(documents / "crom.png"),
                           options={"binarize": "sauvola"})
    assert result.outputs["pages"] == 1


def test_missing_language_names_its_debian_package(recognize, documents):
    with pytest.raises(MissingDependency) as caught:
        recognize(documents / "crom.png", languages="eng+chi_sim")
    assert "apt-get install tesseract-ocr-chi-sim" in str(caught.value)


def test_not_an_image(recognize, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture\n")
    with pytest.raises(InputError, match="not an image or a PDF"):
        recognize(path)


def test_image_bytes_that_no_decoder_reads(recognize, tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
    with pytest.raises(InputError, match="truncated or damaged|not an image PIL can read"):
        recognize(path)


def test_truncated_image(recognize, tmp_path, documents):
    data = (documents / "baiona.png").read_bytes()
    path = tmp_path / "baiona-cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or damaged"):
        recognize(path)


def test_truncated_and_invalid_pdfs(recognize, tmp_path, documents):
    with pytest.raises(InputError, match="not a readable PDF"):
        recognize(documents / "invalid.pdf")
    data = (documents / "skew.pdf").read_bytes()
    path = tmp_path / "skew-cut.pdf"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="not a readable PDF|damaged"):
        recognize(path)


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf makes the encrypted sample: apt-get install qpdf")
def test_encrypted_pdf(recognize, tmp_path, documents):
    path = tmp_path / "locked.pdf"
    subprocess.run(["qpdf", "--encrypt", "user", "owner", "256", "--", str(documents / "trivial.pdf"), str(path)], check=True)
    with pytest.raises(InputError, match="encrypted PDF"):
        recognize(path)


def test_decompression_bomb_image_is_refused_from_its_header(recognize, tmp_path):
    path = _png_header_only(tmp_path / "bomb.png", 100_000, 100_000)  # 10 gigapixels, 100 bytes of file
    with pytest.raises(InputError, match="10000 megapixels.*refused before decoding"):
        recognize(path)
    mid = _png_header_only(tmp_path / "large.png", 12_000, 12_000)  # over max_pixels, under PIL's own limit x2
    with pytest.raises(InputError, match="144 megapixels"):
        recognize(mid)


def test_absurd_pdf_page_is_refused_before_rendering(recognize, tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(14400, 14400)  # 200 x 200 inches, the largest page PDF allows
    path = tmp_path / "poster.pdf"
    pdf.save(str(path))
    pdf.close()
    with pytest.raises(InputError, match="60000 x 60000 pixels"):
        recognize(path)


@pytest.mark.parametrize("name", ["trivial.pdf", "no_contents.pdf"])
def test_empty_pages_succeed_with_no_words(recognize, documents, name):
    result = recognize(documents / name, dpi=100)
    assert result.outputs["words"] == 0 and result.outputs["empty_pages"] == [1]
    assert "no text was found" in result.outputs["note"]
    assert result.document.text == ""


def test_a_page_that_outlasts_the_timeout_is_stopped(recognize, documents):
    with pytest.raises(InputError, match="did not finish within 0.2 s"):
        recognize(documents / "skew.pdf", timeout=0.2, outputs=[])
