"""The ``ocr.preprocess`` action: the document's pages cleaned up as OCR would see them, as a new
image artifact (PNG for one page, multi-page TIFF otherwise)."""

from __future__ import annotations

import io

from paperchain_sdk import Artifact, InputError, Result
from paperchain_sdk.contracts import Action

from .preprocess import preprocess
from .recognize import document_pages


class Preprocess(Action):
    """Grayscale, denoise, deskew, orientation and binarization of every page."""

    def run(self, ctx, inputs) -> Result:
        from PIL import Image

        doc = ctx.document
        if doc is None:
            raise InputError("ocr.preprocess needs a document, but this run has none.",
                             hint="start the run with an image or PDF file")
        _, pages = document_pages(doc, inputs, force=True)
        frames, reports = [], []
        for page in pages:
            pixels, report = preprocess(page.image, inputs, inputs.backend)
            frames.append(Image.fromarray(pixels))
            reports.append({"page": page.number, **report})
        buffer = io.BytesIO()
        if len(frames) == 1:
            frames[0].save(buffer, format="PNG", dpi=(inputs.dpi, inputs.dpi))
            name, media_type = f"{doc.stem}.preprocessed.png", "image/png"
        else:
            frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:],
                           compression="tiff_deflate", dpi=(inputs.dpi, inputs.dpi))
            name, media_type = f"{doc.stem}.preprocessed.tiff", "image/tiff"
        artifact = Artifact(name=name, media_type=media_type, data=buffer.getvalue())
        return Result(outputs={"pages": len(frames), "page_stats": reports}, artifacts=[artifact])
