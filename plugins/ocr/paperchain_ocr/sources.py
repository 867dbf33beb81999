"""Pages of a document as NumPy arrays: image files (PNG, JPEG, TIFF incl. multi-page) and PDFs.

Page sizes are checked against ``max_pixels`` from the image header or the PDF page box before
anything is decoded, so a decompression bomb is refused before it takes memory.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator

import attrs
import numpy as np

from paperchain_sdk import InputError

# PDFium is not thread-safe, even across documents.
PDFIUM_LOCK = threading.Lock()
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/bmp", "image/gif", "image/webp",
               "image/x-portable-anymap", "image/x-portable-graymap", "image/x-portable-pixmap")


@attrs.frozen(kw_only=True)
class Page:
    number: int  # 1-based
    dpi: int
    image: np.ndarray | None = attrs.field(default=None, repr=False, eq=False)  # None: not OCRed
    text: str = ""  # the text layer a PDF page already carries


def media_kind(doc) -> str:
    media_type = doc.media_type.split(";")[0].strip().lower()
    if media_type == "application/pdf":
        return "pdf"
    if media_type in IMAGE_TYPES or media_type.startswith("image/"):
        return "image"
    raise InputError(
        f"{doc.name} is {media_type}, not an image or a PDF, so it cannot be OCRed.",
        hint="OCR reads PNG, JPEG, TIFF (also multi-page) and PDF files",
    )


def _too_big(doc, what: str, width: int, height: int, max_pixels: int) -> InputError:
    return InputError(
        f"{doc.name}: {what} is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), more than "
        f"max_pixels ({max_pixels / 1e6:.1f} megapixels); refused before decoding (a decompression bomb?).",
        hint="if the file is genuine, raise max_pixels (or lower dpi for a PDF); otherwise check where it came from",
    )


def image_pages(doc, *, dpi: int, max_pixels: int) -> Iterator[Page]:
    """Each frame of an image file, as ``L`` or ``RGB`` pixels (alpha flattened onto white)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # We check the size ourselves against max_pixels, below; PIL's warning would be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(doc.path)
    except UnidentifiedImageError:
        raise InputError(
            f"{doc.name} is not an image PIL can read (its bytes match no known image format).",
            hint="check the file: it may be damaged or not an image at all; OCR reads PNG, JPEG, TIFF and PDF",
        ) from None
    except Image.DecompressionBombError:
        raise _bomb_from_header(doc, max_pixels) from None
    except OSError as exc:
        raise InputError(
            f"{doc.name} could not be read or decoded as an image ({exc}): the file is truncated or damaged.",
            hint="check that the file exists and that the upload or scan finished, then export it again",
        ) from None
    with image:
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            width, height = frame.size
            if width * height > max_pixels:
                raise _too_big(doc, f"page {index + 1}", width, height, max_pixels)
            try:
                pixels = _pixels(frame)
            except (OSError, SyntaxError, ValueError) as exc:
                raise InputError(
                    f"{doc.name}: page {index + 1} could not be decoded ({exc}); the file is truncated or damaged.",
                    hint="check that the upload or scan finished, then export or scan the image again",
                ) from None
            frame_dpi = frame.info.get("dpi", (0, 0))[0]
            yield Page(number=index + 1, dpi=int(round(frame_dpi)) if frame_dpi and frame_dpi >= 50 else dpi, image=pixels)


def _bomb_from_header(doc, max_pixels: int) -> InputError:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(doc.path) as header_only:  # reads the header, decodes nothing
                width, height = header_only.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    return _too_big(doc, "the image", width, height, max_pixels)


def _pixels(frame) -> np.ndarray:
    if frame.mode in ("1", "L", "I;16", "I", "F", "LA", "La"):
        if frame.mode in ("LA", "La"):
            frame = _on_white(frame)
        return np.asarray(frame.convert("L"))
    if frame.mode in ("RGBA", "RGBa", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        frame = _on_white(frame)
    return np.asarray(frame.convert("RGB"))


def _on_white(frame):
    from PIL import Image

    rgba = frame.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def open_pdf(doc, password: str = ""):
    """A pypdfium2 document, or InputError saying why it cannot be opened. Call under PDFIUM_LOCK."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    raw = pdfium_c.FPDF_LoadDocument(os.fsencode(doc.path) + b"\x00", (password + "\x00").encode() if password else None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise InputError(
                f"{doc.name} is an encrypted PDF" + (" and the password given does not open it." if password else "."),
                hint="set the step's password option, or remove the encryption first (e.g. `qpdf --decrypt`)",
            )
        raise InputError(
            f"{doc.name} is not a readable PDF: it is truncated, damaged or not a PDF at all.",
            hint="check that the upload finished, then re-save or re-export it (or repair it with `qpdf in.pdf out.pdf`)",
        )
    pdf = pdfium.PdfDocument(raw)
    if len(pdf) == 0:
        pdf.close()
        raise InputError(f"{doc.name} is a PDF with no pages.", hint="export or scan it again")
    return pdf


def pdf_pages(doc, *, dpi: int, max_pixels: int, force: bool, password: str = "",
              smallest_first: bool = False) -> Iterator[Page]:
    """Each page of a PDF: rendered in gray at ``dpi``, or only its text when it already has some.

    Every page's size and text layer are checked first, so a page over ``max_pixels`` is refused
    before anything is rendered. With ``smallest_first`` the pages to OCR are rendered from the
    smallest up, so parallel workers get going at once and huge pages render while they are busy
    (which page each worker takes is :mod:`.schedule`'s choice).
    """
    scale = dpi / 72.0
    with PDFIUM_LOCK:
        pdf = open_pdf(doc, password)
    try:
        to_render = []
        for index in range(len(pdf)):
            with PDFIUM_LOCK:
                width, height, text = _page_facts(doc, pdf, index, scale)
            if width * height > max_pixels:
                raise _too_big(doc, f"page {index + 1} at {dpi} dpi", width, height, max_pixels)
            if text.strip() and not force:
                yield Page(number=index + 1, dpi=dpi, text=text)
            else:
                to_render.append((width * height, index))
        if smallest_first:
            to_render.sort()
        for _, index in to_render:
            with PDFIUM_LOCK:
                pixels = render_page(doc, pdf, index, scale)
            yield Page(number=index + 1, dpi=dpi, image=pixels)
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _damaged(doc, index: int) -> InputError:
    return InputError(
        f"{doc.name}: page {index + 1} is damaged and could not be rendered.",
        hint="repair the PDF (e.g. `qpdf in.pdf repaired.pdf`) and try again",
    )


def _page_facts(doc, pdf, index: int, scale: float) -> tuple[int, int, str]:
    """Pixel size at ``scale`` and existing text of one page (call under PDFIUM_LOCK)."""
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        try:
            width_pt, height_pt = page.get_size()
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_bounded().replace("\r\n", "\n")
            finally:
                textpage.close()
        finally:
            page.close()
    except pdfium.PdfiumError:
        raise _damaged(doc, index) from None
    return round(width_pt * scale), round(height_pt * scale), text


def render_page(doc, pdf, index: int, scale: float) -> np.ndarray:
    """One page in gray, as a NumPy array we own (call under PDFIUM_LOCK)."""
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        try:
            pixels = scanned_image(page, scale)
            if pixels is None:
                pixels = np.array(page.render(scale=scale, grayscale=True).to_numpy(), copy=True)
        finally:
            page.close()
    except pdfium.PdfiumError:
        raise _damaged(doc, index) from None
    return pixels[..., 0].copy() if pixels.ndim == 3 else pixels


def scanned_image(page, scale: float) -> np.ndarray | None:
    """The page in gray when it is a scan: one upright image covering the page with exactly the
    pixels a render at ``scale`` would have; None otherwise.

    PDFium then draws the image by itself, at its own size, with its masks and decode arrays, and
    skips compositing a page: 0.43 s instead of 0.81 s for the shared sample's 81-megapixel page.
    """
    import pypdfium2.raw as pdfium_c

    from .kernels import grayscale_bgr

    if page.get_rotation() or pdfium_c.FPDFPage_CountObjects(page.raw) != 1:
        return None
    image = next(page.get_objects(max_depth=1))
    if image.type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
        return None
    a, b, c, d, _, _ = image.get_matrix().get()
    width_pt, height_pt = page.get_size()
    left, bottom = page.get_cropbox()[:2]
    bounds = (left, bottom, left + width_pt, bottom + height_pt)
    if b or c or a <= 0 or d <= 0 or any(abs(x - y) > 0.5 for x, y in zip(image.get_bounds(), bounds)):
        return None
    if tuple(image.get_px_size()) != (round(width_pt * scale), round(height_pt * scale)):
        return None  # another resolution: the render resamples it
    pixels = image.get_bitmap(render=True, scale_to_original=True).to_numpy()
    return pixels.copy() if pixels.ndim == 2 else grayscale_bgr(pixels)
