"""Image documents, decoded once with Pillow so PDF and DOCX embed them the same way.

Decoding up front (rather than letting fpdf2 or python-docx read the header) turns a truncated or
mislabelled file into one clear :class:`InputError` that names the document.
"""

from __future__ import annotations

import io

import attrs
from PIL import Image, ImageOps

from paperchain_sdk import Document, InputError

# Formats both fpdf2 and Word take as they are; anything else is converted to PNG.
_EMBEDDABLE = {"PNG", "JPEG", "GIF"}
_DEFAULT_DPI = 96.0
_ORIENTATION = 0x0112


@attrs.frozen
class Picture:
    """An image ready to embed: ``source`` is a path or PNG bytes in a BytesIO."""

    source: str | io.BytesIO = attrs.field(eq=False)
    width_px: int
    height_px: int
    dpi: float

    @property
    def width_in(self) -> float:
        return self.width_px / self.dpi

    @property
    def height_in(self) -> float:
        return self.height_px / self.dpi


def is_image(doc: Document) -> bool:
    return doc.media_type.startswith("image/")


def load_picture(doc: Document) -> Picture:
    """Decode ``doc`` fully and return what to embed; InputError when it is not a readable image."""
    try:
        with Image.open(doc.path) as image:
            image.load()
            fmt = image.format
            dpi = _dpi(image.info.get("dpi"))
            rotated = image.getexif().get(_ORIENTATION, 1) not in (1, None)
            if fmt in _EMBEDDABLE and not rotated:
                return Picture(doc.path, image.width, image.height, dpi)
            # Phone photos carry their rotation in EXIF; embed them upright.
            upright = ImageOps.exif_transpose(image) if rotated else image
            buffer = io.BytesIO()
            _for_png(upright).save(buffer, format="PNG")
            buffer.seek(0)
            return Picture(buffer, upright.width, upright.height, dpi)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(
            f"{doc.name!r} ({doc.media_type}) cannot be decoded as an image: {exc}",
            hint="check that the file is a complete PNG or JPEG image; re-scan or re-export it",
        ) from exc


def fit(picture: Picture, max_width: float, max_height: float, unit_per_inch: float) -> tuple[float, float]:
    """Size in the page's unit: the picture's natural size, shrunk (never enlarged) to fit."""
    width, height = picture.width_in * unit_per_inch, picture.height_in * unit_per_inch
    scale = min(1.0, max_width / width, max_height / height)
    return width * scale, height * scale


def _dpi(value) -> float:
    try:
        dpi = float(value[0])
    except (TypeError, ValueError, IndexError):
        return _DEFAULT_DPI
    # Scanners write nonsense now and then (0, 1, 72000); fall back to screen resolution.
    return dpi if 30 <= dpi <= 2400 else _DEFAULT_DPI


def _for_png(image: Image.Image) -> Image.Image:
    if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")
