"""A document as images: image files decoded safely, PDF pages rendered with pypdfium2.

Sizes are checked from the header (or the PDF page box) *before* any pixel is decoded, so a
decompression bomb is refused without eating memory. Every failure is an InputError that names
the document and says what to do.
"""

from __future__ import annotations

import warnings

import attrs
import numpy as np
from PIL import Image, ImageOps

from paperchain_sdk import Document, InputError

IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/gif", "image/bmp", "image/webp")
PDF_TYPE = "application/pdf"


@attrs.frozen
class Page:
    """One image of a document: ``image`` is a decoded PIL image in its own mode."""

    index: int
    image: Image.Image = attrs.field(eq=False, repr=False)
    dpi: float | None  # None when the file does not say
    source: str  # "image" or "pdf"


@attrs.frozen
class Pages:
    pages: tuple[Page, ...]
    total: int  # pages in the document; more than len(pages) when max_pages cut it


def load_pages(doc: Document, settings) -> Pages:
    """Decode up to ``settings.max_pages`` images of ``doc``."""
    if doc.media_type == PDF_TYPE:
        return _render_pdf(doc, settings)
    if doc.media_type in IMAGE_TYPES:
        return _decode_image(doc, settings)
    raise InputError(
        f"{doc.name} is {doc.media_type}, not an image or a PDF: vision components read PNG, JPEG, TIFF, "
        "GIF, BMP, WebP images and PDF pages.",
        hint="run this step only on image or PDF documents (e.g. with an `if:` on the media type)",
    )


def _refuse_bomb(doc: Document, width: float, height: float, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise InputError(
            f"{doc.name}: {what} is {int(width)}x{int(height)} pixels ({width * height / 1e6:.0f} MP), more than "
            f"max_pixels={max_pixels:,}; refused before decoding (it could be a decompression bomb).",
            hint="raise max_pixels if the image is genuine" + (", or lower dpi" if what.startswith("page") else ""),
        )
    if width < 1 or height < 1:
        raise InputError(f"{doc.name}: {what} has no pixels ({width}x{height}).", hint="check the file")


def _decode_image(doc: Document, settings) -> Pages:
    pages = []
    try:
        with warnings.catch_warnings():
            # PIL warns (and past 2x its limit raises) on large images; our own limit decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(doc.path) as image:
                total = getattr(image, "n_frames", 1)
                for index in range(min(total, settings.max_pages)):
                    image.seek(index)
                    _refuse_bomb(doc, image.width, image.height, settings.max_pixels, f"frame {index + 1}")
                    image.load()
                    frame = ImageOps.exif_transpose(image) if index == 0 else image.copy()
                    pages.append(Page(index, frame, _dpi(image.info.get("dpi")), "image"))
    except Image.DecompressionBombError as exc:
        raise InputError(f"{doc.name}: refused before decoding, the image is too large ({exc}).",
                         hint="raise max_pixels if the image is genuine") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"{doc.name} is not a readable image ({type(exc).__name__}: {exc}); it may be truncated or mislabelled.",
            hint="re-export or re-scan the file",
        ) from None
    return Pages(tuple(pages), total)


def _dpi(value) -> float | None:
    try:
        dpi = float(value[0])
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if dpi > 1 else None


def _render_pdf(doc: Document, settings) -> Pages:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(doc.path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InputError(f"{doc.name} is an encrypted PDF.", hint="decrypt it (e.g. qpdf --decrypt) first") from None
        raise InputError(f"{doc.name} is not a readable PDF ({exc}).", hint="check that the file is a complete PDF") from None
    try:
        total = len(pdf)
        if total == 0:
            raise InputError(f"{doc.name} has no pages.", hint="check the file")
        scale = settings.dpi / 72.0
        pages = []
        for index in range(min(total, settings.max_pages)):
            page = pdf[index]
            try:
                width, height = page.get_size()
                _refuse_bomb(doc, width * scale, height * scale, settings.max_pixels, f"page {index + 1} at {settings.dpi} dpi")
                bitmap = page.render(scale=scale, grayscale=False)
                pages.append(Page(index, bitmap.to_pil().convert("RGB"), float(settings.dpi), "pdf"))
            finally:
                page.close()
        return Pages(tuple(pages), total)
    except pdfium.PdfiumError as exc:
        raise InputError(f"{doc.name}: a page could not be rendered ({exc}).", hint="check the PDF") from None
    finally:
        pdf.close()


def to_rgb(image: Image.Image) -> np.ndarray:
    """The image as an (h, w, 3) uint8 array: transparency flattened on white, 16-bit scaled down."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = to_gray(image)
        return np.repeat(np.round(gray * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info or mode in ("PA", "LA", "RGBA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def to_gray(image: Image.Image) -> np.ndarray:
    """The image as an (h, w) float64 array in [0, 1], keeping 16-bit precision where there is some."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        data = np.asarray(image).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or data.max(initial=0) > 255 else 255.0
        return np.clip(data / top, 0.0, 1.0)
    if mode == "F":
        data = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(data)), float(np.nanmax(data))
        return np.zeros_like(data) if high <= low else (data - low) / (high - low)
    rgb = to_rgb(image).astype(np.float64)
    return (rgb @ np.array([0.299, 0.587, 0.114])) / 255.0
