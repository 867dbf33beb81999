"""Embed every live document that has text and is not embedded with the current model.

Walks the kernel's documents in id order (``kernel.document_text_page``), a batch at a time, and
embeds those not yet embedded with the deployment's model. Each document is committed on its
own, so a stopped backfill loses nothing, and a second one skips what the first did (resumable
without a cursor). Documents with no text yet are counted and left for a text step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .index import index_for


@attrs.define
class BackfillReport:
    model: str = ""
    seen: int = 0
    embedded: int = 0
    chunks: int = 0
    without_text: int = 0


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
                report.without_text += 1
                continue
            report.chunks += await index.embed_document(document_id, tenant, text)
            report.embedded += 1
            if limit is not None and report.embedded >= limit:
                return report
        if progress is not None:
            progress(report)
    return report
