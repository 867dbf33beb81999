"""TextRank kernels against a NumPy reference, and the summaries they make."""

from __future__ import annotations

import numpy as np
import pytest

from paperchain_text.summary import encode_sentences, summarize
from paperchain_text.textinput import sentences
from paperchain_text.textrank_kernel import pagerank, similarity_matrix


def numpy_similarity(parts: list[str]) -> np.ndarray:
    import re

    sets = [set(re.findall(r"\w+", p.casefold())) for p in parts]
    n = len(sets)
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j and len(sets[i]) > 1 and len(sets[j]) > 1:
                common = len(sets[i] & sets[j])
                sim[i, j] = common / (np.log(len(sets[i])) + np.log(len(sets[j]))) if common else 0.0
    return sim


def numpy_pagerank(weights: np.ndarray, damping: float, iterations: int) -> np.ndarray:
    n = len(weights)
    out = weights.sum(axis=1)
    transition = np.divide(weights, out[:, None], out=np.zeros_like(weights), where=out[:, None] > 0)
    scores = np.full(n, 1 / n)
    for _ in range(iterations):
        dangling = scores[out == 0].sum()
        scores = (1 - damping) / n + damping * (scores @ transition + dangling / n)
    return scores


def test_kernels_match_numpy(real_texts):
    for text in real_texts:
        parts = sentences(text)[:300]
        ids, starts = encode_sentences(parts)
        sim = similarity_matrix(ids, starts)
        np.testing.assert_allclose(sim, numpy_similarity(parts), rtol=1e-12, atol=1e-12)
        scores, iterations = pagerank(sim, 0.85, 1e-12, 500)
        assert iterations < 500 and scores.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(scores, numpy_pagerank(sim, 0.85, iterations), rtol=1e-9, atol=1e-12)


def test_dangling_sentences_are_handled():
    parts = ["cats purr softly.", "Hi.", "cats sleep softly all day.", "Zebra!"]
    ids, starts = encode_sentences(parts)
    sim = similarity_matrix(ids, starts)
    scores, _ = pagerank(sim, 0.85, 1e-12, 1000)
    np.testing.assert_allclose(scores, numpy_pagerank(sim, 0.85, 1000), rtol=1e-9)
    assert scores[0] > scores[1] and scores[2] > scores[3]


def test_summary_keeps_central_sentences_in_order():
    text = ("Solar panels convert sunlight into electricity. Panels on roofs make electricity for homes. "
            "My cat likes fish. Electricity from solar panels is cheap and clean. The weather was cold.")
    result = summarize(text, count=2)
    assert len(result["sentences"]) == 2
    assert all("panels" in s.lower() or "electricity" in s.lower() for s in result["sentences"])
    assert result["indices"] == sorted(result["indices"])


def test_short_texts_are_returned_whole():
    assert summarize("Only one sentence here.", count=3)["sentences"] == ["Only one sentence here."]
    assert summarize("", count=3)["sentences"] == []
