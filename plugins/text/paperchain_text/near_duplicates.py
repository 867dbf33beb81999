"""``text.near_duplicates``: sign the document with MinHash, index it, return documents like it."""

from __future__ import annotations

from pathlib import Path

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from . import runtime
from .minhash import is_empty
from .settings import NearDuplicatesSettings
from .textinput import require_text


def index_parameters(options: NearDuplicatesSettings) -> dict:
    return {"num_perm": options.num_perm, "bands": options.bands, "seed": options.seed,
            "scheme": options.scheme, "shingle_size": options.shingle_size}


def index_for(doc: Document, options: NearDuplicatesSettings):
    if options.index_path:
        path = Path(options.index_path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path = runtime.database_for(doc.path)
    return runtime.open_index(path, **index_parameters(options))


class NearDuplicatesAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: NearDuplicatesSettings | None = None) -> Findings:
        options = options or self.settings or NearDuplicatesSettings()
        text = require_text(doc, "text.near_duplicates")
        index = index_for(doc, options)
        signature = index.hasher.sign(text)
        base = {"scheme": options.scheme, "num_perm": options.num_perm, "threshold": options.threshold}
        if is_empty(signature):
            return Findings(data={**base, "indexed": False, "duplicates": []},
                            summary="no words: not indexed, no near-duplicates")
        if options.add:
            # Insert before querying: of two similar documents analyzed at the same time, the
            # second to insert always sees the first.
            index.add(doc.id, signature)
        matches = index.query(signature, threshold=options.threshold, limit=options.limit, exclude=doc.id)
        duplicates = [{"document_id": m.document_id, "jaccard": m.jaccard} for m in matches]
        summary = (f"{len(duplicates)} near-duplicate(s), best {duplicates[0]['jaccard']:.2f}" if duplicates
                   else "no near-duplicates")
        return Findings(data={**base, "indexed": options.add, "indexed_documents": len(index),
                              "duplicates": duplicates}, summary=summary)
