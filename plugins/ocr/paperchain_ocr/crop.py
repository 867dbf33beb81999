"""Cropping a page to its ink before tesseract, and moving tesseract's results back onto the page.

Tesseract's time grows with the pixels it is given, blank ones included: the shared sample's
9000 x 9000 poster page with two lines of text takes 3.4 s whole and 0.27 s cropped. The crop
keeps a margin of white (tesseract reads text that touches the border less reliably), and every
result is mapped back, so words, TSV, hOCR and the searchable PDF's text layer all use the
coordinates of the whole page.
"""

from __future__ import annotations

import re

import attrs
import numpy as np

from . import cpu, engine, kernels

MARGIN_INCH = 1 / 6
# Crop only when that saves at least this share of the pixels: scans with dark borders or specks
# near the edges gain nothing, and are better left as they are.
MIN_SAVING = 0.1
# Ink is darker than Otsu's level (the level tesseract binarizes at) and than this, so a page
# that is all one light tone counts as blank.
PALEST_INK = 223


@attrs.frozen
class Crop:
    """The region ``left, top, width, height`` of a page of ``page_width x page_height`` pixels."""

    left: int
    top: int
    width: int
    height: int
    page_width: int
    page_height: int

    @property
    def whole(self) -> bool:
        return self.width == self.page_width and self.height == self.page_height

    def of(self, pixels: np.ndarray) -> np.ndarray:
        return pixels[self.top:self.top + self.height, self.left:self.left + self.width]

    def tsv(self, tsv: str) -> str:
        """Tesseract's TSV of the crop, in page coordinates (the page row covers the whole page)."""
        if self.whole:
            return tsv
        rows = tsv.splitlines()
        out = rows[:1]
        for row in rows[1:]:
            cells = row.split("\t")
            if len(cells) < 12:
                out.append(row)
                continue
            if cells[0] == "1":
                cells[6:10] = ["0", "0", str(self.page_width), str(self.page_height)]
            else:
                cells[6] = str(int(cells[6]) + self.left)
                cells[7] = str(int(cells[7]) + self.top)
            out.append("\t".join(cells))
        return "\n".join(out) + "\n"

    def hocr(self, hocr: bytes) -> bytes:
        """Tesseract's hOCR of the crop, in page coordinates (the page's bbox is the whole page)."""
        if self.whole:
            return hocr
        dx, dy = self.left, self.top

        def moved(match: re.Match) -> bytes:
            x0, y0, x1, y1 = (int(v) for v in match.groups())
            return b"bbox %d %d %d %d" % (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

        text = _BBOX.sub(moved, hocr)
        return _PAGE_BBOX.sub(b"\\g<1>bbox 0 0 %d %d" % (self.page_width, self.page_height), text, count=1)

    def layer_matrix(self, layer_size: tuple[float, float], page_box: tuple[float, float, float, float]):
        """``(scale_x, scale_y, x, y)`` that puts tesseract's text-only PDF page of the crop
        (``layer_size`` in points) where the crop lies on the PDF page ``page_box`` (left, bottom,
        width, height in points). The page's pixels were rounded when it was rasterized, so the
        layer is stretched by the same factor as the whole page."""
        left, bottom, width, height = page_box
        per_px_x, per_px_y = width / self.page_width, height / self.page_height
        scale_x = per_px_x * self.width / layer_size[0]
        scale_y = per_px_y * self.height / layer_size[1]
        x = left + self.left * per_px_x
        y = bottom + (self.page_height - self.top - self.height) * per_px_y  # PDF's y runs upwards
        return scale_x, scale_y, x, y


_BBOX = re.compile(rb"bbox (\d+) (\d+) (\d+) (\d+)")
_PAGE_BBOX = re.compile(rb"(class=['\"]ocr_page['\"][^>]*?)bbox \d+ \d+ \d+ \d+")


def whole_page(pixels: np.ndarray) -> Crop:
    """The page itself, as a crop: what tesseract reads when cropping is off or saves little."""
    height, width = pixels.shape[:2]
    return Crop(0, 0, width, height, width, height)


def ink_level(gray: np.ndarray) -> int:
    """The level at or below which a pixel is ink: Otsu's level, from every other pixel of every
    other row (a quarter of the page is plenty for a histogram)."""
    sample = np.ascontiguousarray(gray[::2, ::2])
    return min(int(kernels.otsu_threshold(sample)), PALEST_INK)


def find(pixels: np.ndarray, dpi: int) -> Crop:
    """The region of ``pixels`` (gray or RGB) worth giving tesseract: the ink's bounding box with
    a margin, the whole page when cropping saves little, a small corner when there is no ink."""
    gray = cpu.to_gray(pixels)
    height, width = gray.shape
    margin = max(1, round(dpi * MARGIN_INCH))
    top, bottom, left, right = kernels.ink_box(gray, ink_level(gray))
    if bottom == 0:  # a blank page: tesseract still answers for it, in a fraction of the time
        return Crop(0, 0, min(width, 2 * margin), min(height, 2 * margin), width, height)
    top, left = max(0, top - margin), max(0, left - margin)
    bottom, right = min(height, bottom + margin), min(width, right + margin)
    if (bottom - top) * (right - left) > (1 - MIN_SAVING) * width * height:
        return whole_page(gray)
    return Crop(left, top, right - left, bottom - top, width, height)


def place(ocr: engine.PageOcr, crop: Crop) -> engine.PageOcr:
    """Tesseract's results on the crop, moved to where the crop lies on the page."""
    if crop.whole:
        return attrs.evolve(ocr, crop=crop)
    tsv = crop.tsv(ocr.tsv)
    return attrs.evolve(ocr, tsv=tsv, words=tuple(engine.parse_tsv(tsv)), crop=crop,
                        hocr=crop.hocr(ocr.hocr) if ocr.hocr is not None else None)
