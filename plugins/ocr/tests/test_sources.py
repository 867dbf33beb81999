"""PDF pages that are one scanned image are taken from the image itself, exactly as a render."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from paperchain_ocr import sources
from paperchain_sdk.testing import pdf_from_objects

pdfium = pytest.importorskip("pypdfium2")


def _rendered(page, scale):
    pixels = np.asarray(page.render(scale=scale, grayscale=True).to_numpy())
    return pixels[..., 0] if pixels.ndim == 3 else pixels


def _pdf_with_image(path, gray: np.ndarray, *, alpha: np.ndarray | None = None, decode: bool = False,
                    extra: bytes = b"") -> None:
    """A one-page PDF whose page is ``gray`` at 300 dpi, optionally with a soft mask, an inverting
    decode array, or more drawing after the image."""
    h, w = gray.shape
    width_pt, height_pt = w * 72 / 300, h * 72 / 300

    def image(pixels, more=b""):
        data = zlib.compress(pixels.tobytes())
        return (b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 8 /ColorSpace "
                b"/DeviceGray /Filter /FlateDecode /Length %d %s>>\nstream\n" % (w, h, len(data), more)
                + data + b"\nendstream")

    content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q %s" % (width_pt, height_pt, extra)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Resources << /XObject << /Im0 5 0 R >> >> "
        b"/Contents 4 0 R >>" % (width_pt, height_pt),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        image(gray, (b"/SMask 6 0 R " if alpha is not None else b"") + (b"/Decode [1 0] " if decode else b"")),
    ]
    if alpha is not None:
        objects.append(image(alpha))
    path.write_bytes(pdf_from_objects(objects))


@pytest.fixture
def scan():
    rng = np.random.default_rng(5)
    pixels = np.full((330, 250), 235, np.uint8)
    pixels[40:300:12, 20:230] = rng.integers(0, 90, (22, 210))  # lines of "text"
    return pixels


@pytest.mark.parametrize("variant", ["plain", "soft mask", "decode"])
def test_a_scanned_page_is_its_image_exactly_as_rendered(tmp_path, scan, variant):
    alpha = np.tile(np.linspace(0, 255, scan.shape[1]).astype(np.uint8), (scan.shape[0], 1))
    _pdf_with_image(tmp_path / "scan.pdf", scan, alpha=alpha if variant == "soft mask" else None,
                    decode=variant == "decode")
    pdf = pdfium.PdfDocument(str(tmp_path / "scan.pdf"))
    try:
        page = pdf[0]
        pixels = sources.scanned_image(page, 300 / 72)
        assert pixels is not None and pixels.dtype == np.uint8
        assert np.abs(pixels.astype(int) - _rendered(page, 300 / 72)).max() <= 1
    finally:
        pdf.close()


def test_pages_that_are_not_a_lone_image_at_that_resolution_are_rendered(tmp_path, scan):
    _pdf_with_image(tmp_path / "drawn-on.pdf", scan, extra=b"0 0 10 10 re f")
    _pdf_with_image(tmp_path / "scan.pdf", scan)
    drawn_on, plain = (pdfium.PdfDocument(str(tmp_path / name)) for name in ("drawn-on.pdf", "scan.pdf"))
    try:
        assert sources.scanned_image(drawn_on[0], 300 / 72) is None  # more than the image on it
        assert sources.scanned_image(plain[0], 150 / 72) is None  # another resolution: resampled
    finally:
        drawn_on.close()
        plain.close()


def test_the_shared_poster_page_is_read_from_its_image(documents):
    pdf = pdfium.PdfDocument(str(documents / "multipage.pdf"))
    try:
        assert np.array_equal(sources.scanned_image(pdf[1], 300 / 72), _rendered(pdf[1], 300 / 72))
        assert sources.scanned_image(pdf[4], 300 / 72) is None  # a 72 dpi image: rendered
    finally:
        pdf.close()
