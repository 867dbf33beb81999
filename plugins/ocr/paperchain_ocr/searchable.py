"""The searchable PDF: each page as it looked, with tesseract's invisible text layer on top.

Tesseract writes a text-only PDF per page (``textonly_pdf=1``); pypdfium2 places it as a form
XObject over the original PDF page, or over a new page holding the image for image documents.
Pages that were not OCRed (they already carried text) are copied unchanged.
"""

from __future__ import annotations

import numpy as np

from .sources import PDFIUM_LOCK, open_pdf


def build(doc, kind: str, layers: dict[int, bytes], page_images, out_path: str, password: str = "") -> None:
    """Write the searchable PDF to ``out_path``.

    ``layers`` maps 1-based page numbers to tesseract's text-only PDF of that page and the
    :class:`~paperchain_ocr.crop.Crop` it was read from (None: the whole page);
    ``page_images`` yields ``(number, pixels, dpi)`` for image documents (unused for PDFs).
    """
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        out = pdfium.PdfDocument.new()
        try:
            if kind == "pdf":
                source = open_pdf(doc, password)
                try:
                    out.import_pages(source)
                finally:
                    source.close()
            else:
                for _number, pixels, dpi in page_images:
                    _add_image_page(out, pixels, dpi, pdfium)
            for number, (layer, region) in sorted(layers.items()):
                _overlay(out, number - 1, layer, region, pdfium)
            out.save(out_path)
        finally:
            out.close()


def _add_image_page(out, pixels: np.ndarray, dpi: int, pdfium) -> None:
    from PIL import Image

    height, width = pixels.shape[:2]
    w_pt, h_pt = width * 72.0 / dpi, height * 72.0 / dpi
    page = out.new_page(w_pt, h_pt)
    image = pdfium.PdfImage.new(out)
    bitmap = pdfium.PdfBitmap.from_pil(Image.fromarray(pixels))
    try:
        image.set_bitmap(bitmap)
    finally:
        bitmap.close()
    image.set_matrix(pdfium.PdfMatrix().scale(w_pt, h_pt))
    page.insert_obj(image)
    page.gen_content()
    page.close()


def _overlay(out, index: int, layer: bytes, region, pdfium) -> None:
    text_pdf = pdfium.PdfDocument(layer)
    try:
        page = out[index]
        try:
            target_w, target_h = page.get_size()
            layer_w, layer_h = text_pdf.get_page_size(0)
            xobject = text_pdf.page_as_xobject(0, out)
            form = xobject.as_pageobject()
            left, bottom = page.get_mediabox()[:2]
            if region is None:  # pixels were rounded when rasterizing: stretch to the exact box
                scale_x, scale_y, x, y = target_w / layer_w, target_h / layer_h, left, bottom
            else:
                scale_x, scale_y, x, y = region.layer_matrix((layer_w, layer_h), (left, bottom, target_w, target_h))
            form.set_matrix(pdfium.PdfMatrix().scale(scale_x, scale_y).translate(x, y))
            page.insert_obj(form)
            page.gen_content()
        finally:
            page.close()
    finally:
        text_pdf.close()
