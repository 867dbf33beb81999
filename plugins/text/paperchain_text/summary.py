"""``text.summary``: extractive summary by TextRank (Mihalcea & Tarau, 2004).

Sentences are graph nodes, edges weigh shared words, PageRank ranks the nodes (Numba kernels in
:mod:`textrank_kernel`); the best sentences are returned in their original order.
"""

from __future__ import annotations

import re

import numpy as np

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import SummarySettings
from .textinput import require_text, sentences

WORD = re.compile(r"\w+")


def encode_sentences(parts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique word ids per sentence, concatenated, with offsets."""
    vocabulary: dict[str, int] = {}
    ids: list[int] = []
    starts = [0]
    for sentence in parts:
        words = {vocabulary.setdefault(w, len(vocabulary)) for w in WORD.findall(sentence.casefold())}
        ids.extend(sorted(words))
        starts.append(len(ids))
    return np.array(ids, dtype=np.int64), np.array(starts, dtype=np.int64)


def rank(parts: list[str], damping: float = 0.85) -> np.ndarray:
    from .textrank_kernel import pagerank, similarity_matrix

    ids, starts = encode_sentences(parts)
    scores, _ = pagerank(similarity_matrix(ids, starts), damping, 1e-8, 200)
    return scores


def summarize(text: str, count: int = 3, max_sentences: int = 2000, damping: float = 0.85) -> dict:
    parts = sentences(text)
    considered = parts[:max_sentences]
    if len(considered) <= count:
        return {"sentences": considered, "ranked": len(considered), "total_sentences": len(parts)}
    scores = rank(considered, damping)
    best = sorted(np.argsort(-scores, kind="stable")[:count].tolist())
    return {"sentences": [considered[i] for i in best], "indices": best,
            "scores": [round(float(scores[i]), 6) for i in best],
            "ranked": len(considered), "total_sentences": len(parts)}


class SummaryAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: SummarySettings | None = None) -> Findings:
        options = options or self.settings or SummarySettings()
        result = summarize(require_text(doc, "text.summary"), options.sentences, options.max_sentences, options.damping)
        text = " ".join(result["sentences"])
        result["summary"] = text
        return Findings(data=result, summary=(text[:200] + "…") if len(text) > 200 else (text or "no text"))
