"""``text.near_duplicates``: sign the document with MinHash, index it, return documents like it.

An async analyzer: the index's reads and writes run on the kernel's event loop through its plugin
storage; signing a long text (the CPU-heavy part) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools

import numpy as np

from paperchain_sdk import ConfigError, Document, Findings
from paperchain_sdk.contracts import Analyzer, KernelBound

from . import runtime
from .minhash import MinHasher, is_empty
from .settings import NearDuplicatesSettings
from .textinput import require_text

INLINE_CHARS = 16_384  # shorter texts sign in tens of microseconds: less than a hop to a thread


def index_parameters(options: NearDuplicatesSettings) -> dict:
    return {"num_perm": options.num_perm, "bands": options.bands, "seed": options.seed,
            "scheme": options.scheme, "shingle_size": options.shingle_size}


@functools.lru_cache(maxsize=16)
def _hasher(num_perm: int, seed: int, scheme: str, shingle_size: int) -> MinHasher:
    return MinHasher(num_perm=num_perm, seed=seed, scheme=scheme, shingle_size=shingle_size)


async def sign(text: str, options: NearDuplicatesSettings) -> np.ndarray:
    """The text's signature with the options' hasher: inline for a short text, else in a thread."""
    hasher = _hasher(options.num_perm, options.seed, options.scheme, options.shingle_size)
    if len(text) <= INLINE_CHARS:
        return hasher.sign(text)
    return await asyncio.to_thread(hasher.sign, text)


class NearDuplicatesAnalyzer(KernelBound, Analyzer):
    """Bound to its kernel by the plugin's ``paperchain_startup``: the index is that kernel's."""

    def unbound_error(self) -> ConfigError:
        return ConfigError(
            "text.near_duplicates has no index here: it runs only as a step of a running Paperchain kernel "
            "(the index lives in the kernel's database).",
            hint="run it as a step of a workflow of a kernel (paperchain run, or the API)",
        )

    async def analyze(self, doc: Document, options: NearDuplicatesSettings | None = None) -> Findings:
        options = options or self.settings or NearDuplicatesSettings()
        text = require_text(doc, "text.near_duplicates")
        signature = await sign(text, options)
        base = {"scheme": options.scheme, "num_perm": options.num_perm, "threshold": options.threshold}
        if is_empty(signature):
            return Findings(data={**base, "indexed": False, "duplicates": []},
                            summary="no words: not indexed, no near-duplicates")
        index = await runtime.open_index(self.kernel, **index_parameters(options))
        if options.add:
            # Insert before querying: of two similar documents analyzed at the same time, the
            # second to insert always sees the first.
            await index.add(doc.id, signature)
        matches = await index.query(signature, threshold=options.threshold, limit=options.limit, exclude=doc.id)
        duplicates = [{"document_id": m.document_id, "jaccard": m.jaccard} for m in matches]
        summary = (f"{len(duplicates)} near-duplicate(s), best {duplicates[0]['jaccard']:.2f}" if duplicates
                   else "no near-duplicates")
        return Findings(data={**base, "indexed": options.add, "indexed_documents": await index.count(),
                              "duplicates": duplicates}, summary=summary)
