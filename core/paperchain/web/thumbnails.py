"""Small pictures of documents, drawn on the server (the browser never gets the whole PDF).

A document's first page is rendered once with pypdfium2 (PDF) or Pillow (images), as a PNG no
larger than ``SIZE``, stored in the blob store (encrypted under the document's tenant like any
blob) and found again through the ``thumbnails`` table. Page previews on a document's page are
drawn the same way, larger, and not kept. pdfium is not thread-safe: one render at a time, under
a thread lock held in the worker thread (an asyncio lock would belong to one event loop).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import sqlalchemy as sa

from ..documents import now
from ..store.tables import thumbnails as thumbnails_table

log = logging.getLogger("paperchain.web")
SIZE = (240, 320)
PAGE_WIDTH = 900
MAX_PAGES = 50
_RENDER = threading.Lock()
_KEPT = sa.select(thumbnails_table.c.blob).where(thumbnails_table.c.document_id == sa.bindparam("document_id"))


def draw(path, media_type: str, *, page: int = 0, box: tuple[int, int] = SIZE) -> bytes | None:
    """A PNG of one page of a PDF or of an image, fitted into ``box``; None for other kinds."""
    from PIL import Image

    if media_type == "application/pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            if page >= len(pdf):
                return None
            sheet = pdf[page]
            scale = min(box[0] / sheet.get_width(), box[1] / sheet.get_height(), 4.0)
            picture = sheet.render(scale=scale).to_pil()
            sheet.close()
        finally:
            pdf.close()
    elif media_type.startswith("image/") and media_type != "image/svg+xml":
        with Image.open(path) as image:
            if page >= getattr(image, "n_frames", 1):
                return None
            image.seek(page)
            picture = image.convert("RGB")
    else:
        return None
    picture.thumbnail(box)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


def _safely(function, *args, **kwargs):
    """``function``'s result, or None for a file it cannot read (a damaged PDF or image): the page
    shows no picture rather than an error."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - pdfium and Pillow raise many kinds for a bad file
        log.warning("no picture of %s: %s", args[0], exc)
        return None


def _locked(function, *args, **kwargs):
    with _RENDER:
        return _safely(function, *args, **kwargs)


def page_count(path, media_type: str) -> int:
    if media_type == "application/pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()
    if media_type.startswith("image/") and media_type != "image/svg+xml":
        from PIL import Image

        with Image.open(path) as image:
            return getattr(image, "n_frames", 1)
    return 0


async def thumbnail(kernel, document_id: str, media_type: str, tenant: str) -> bytes | None:
    """The document's thumbnail PNG: from the blob store, or drawn now and kept there."""
    blob = await kernel.sql.scalar(_KEPT, {"document_id": document_id})
    if blob is not None and kernel.blobs.exists(blob):
        return await asyncio.to_thread(kernel.blobs.read_bytes, blob)
    path = await kernel.documents.plain_path(document_id)

    def draw_and_keep():  # the store too under the lock: documents with the same picture share one blob
        with _RENDER:
            data = _safely(draw, path, media_type)
            return (data, kernel.blobs.put_bytes(data, tenant=tenant)[0]) if data is not None else (None, None)

    data, blob = await asyncio.to_thread(draw_and_keep)
    if data is None:
        return None
    await kernel.journal.upsert("thumbnails", {"document_id": document_id, "blob": blob, "created": now()})
    return data


async def page_image(kernel, document_id: str, media_type: str, page: int) -> bytes | None:
    path = await kernel.documents.plain_path(document_id)
    return await asyncio.to_thread(_locked, draw, path, media_type, page=page, box=(PAGE_WIDTH, PAGE_WIDTH * 2))


async def pages(kernel, document_id: str, media_type: str) -> int:
    path = await kernel.documents.plain_path(document_id)
    return min(await asyncio.to_thread(_locked, page_count, path, media_type) or 0, MAX_PAGES)
