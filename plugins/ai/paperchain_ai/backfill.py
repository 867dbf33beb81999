"""Embed every live document not embedded with the current model, extracting its text first.

Walks the kernel's documents in id order (``kernel.document_text_page``), a batch at a time, and
embeds those not yet embedded with the deployment's model. A document no workflow gave text yet
gets it here from the kernel's ``document.text`` action (plain text and born-digital PDFs), stored
on the document as that step would store it, then embedded. Scans (images, PDFs without a text
layer) are counted as ``needs_ocr`` and left for an OCR workflow; a file that cannot be read is
counted in ``failed`` by name and the walk goes on. Each document is committed on its own, so a
stopped backfill loses nothing, and a second one skips what the first did (resumable without a
cursor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import attrs

from paperchain_sdk import RunContext

from .index import index_for

_TEXT_ACTION = "document.text"


@attrs.define
class BackfillReport:
    model: str = ""
    seen: int = 0
    embedded: int = 0
    chunks: int = 0
    extracted: int = 0  # documents given their text by this backfill
    needs_ocr: int = 0  # scans: images and PDFs without a text layer
    without_text: int = 0  # of a media type document.text does not read (no text, no OCR)
    failed: list[tuple[str, str]] = attrs.Factory(list)  # (document name, why)


async def backfill(kernel: Any, *, batch: int = 64, progress: Callable[[BackfillReport], None] | None = None,
                   limit: int | None = None) -> BackfillReport:
    """Embed what is missing; ``limit`` stops after that many documents embedded (a partial run)."""
    index = await index_for(kernel)
    report = BackfillReport(model=index.model)
    after = ""
    while page := await kernel.document_text_page(after=after, limit=batch):
        after = page[-1][0]
        report.seen += len(page)
        stale = set(await index.stale([document_id for document_id, _, _ in page]))
        for document_id, tenant, text in page:
            if document_id not in stale:
                continue
            if text is None:
                text = await _extract(kernel, document_id, tenant, report)
                if text is None:
                    continue
            report.chunks += await index.embed_document(document_id, tenant, text)
            report.embedded += 1
            if limit is not None and report.embedded >= limit:
                return report
        if progress is not None:
            progress(report)
    return report


async def _extract(kernel: Any, document_id: str, tenant: str, report: BackfillReport) -> str | None:
    """The document's text from ``document.text``, stored on the document; None (and counted) when
    it is a scan, of a type with no text, or cannot be read."""
    document = await kernel.documents.get(document_id)
    media_type = document.media_type.split(";")[0].strip().lower()
    if media_type.startswith("image/"):
        report.needs_ocr += 1
        return None
    registry = kernel.registry
    action = registry.instance(_TEXT_ACTION)
    # allow_empty: a PDF with no text layer comes back blank instead of failing, so it is told
    # apart from a broken one and left for OCR.
    options = registry.settings_for(registry.get(_TEXT_ACTION), {"allow_empty": True},
                                    where="the AI backfill's document.text options")
    ctx = RunContext(run_id="ai-backfill", step_id="text", workflow="ai-backfill", document=document, tenant=tenant)
    try:
        # Synchronous and CPU-bound (PDFium), so off the event loop.
        result = await asyncio.to_thread(action.run, ctx, options)
    except Exception as exc:  # one broken file is reported, never stops the backfill
        message = str(exc)
        if media_type != "application/pdf" and "cannot read" in message:
            report.without_text += 1
        else:
            report.failed.append((document.name, message))
        return None
    text = result.document.text if result.document is not None else None
    if text is None or not text.strip():
        report.needs_ocr += 1  # a scanned PDF: nothing stored, an OCR workflow gives it text
        return None
    await kernel.documents.update(attrs.evolve(document, text=text))
    report.extracted += 1
    return text
