"""``vision.hashes``: aHash, dHash and pHash of each page (imagehash-identical)."""

from __future__ import annotations

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .hashes import perceptual_hashes
from .images import load_pages


class HashesAnalyzer(Analyzer):
    def analyze(self, doc: Document, options) -> Findings:
        loaded = load_pages(doc, options)
        pages = [{"page": p.index + 1, **perceptual_hashes(p.image, options.hash_size, options.highfreq_factor)}
                 for p in loaded.pages]
        return Findings(
            data={"hash_size": options.hash_size, "pages": pages, "pages_total": loaded.total},
            summary=f"phash {pages[0]['phash']}" + (f" (+{len(pages) - 1} pages)" if len(pages) > 1 else ""),
        )
