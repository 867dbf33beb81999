"""Numba kernels for TextRank: sentence similarity and weighted PageRank.

Sentences arrive as sorted unique word ids, concatenated (``ids``) with offsets (``starts``,
length n + 1). Similarity is TextRank's: shared words / (log|s1| + log|s2|), 0 when a
sentence has fewer than two words.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def similarity_matrix(ids, starts):
    n = starts.shape[0] - 1
    sim = np.zeros((n, n), np.float64)
    for i in range(n):
        li = starts[i + 1] - starts[i]
        if li < 2:
            continue
        for j in range(i + 1, n):
            lj = starts[j + 1] - starts[j]
            if lj < 2:
                continue
            p = starts[i]
            q = starts[j]
            common = 0
            while p < starts[i + 1] and q < starts[j + 1]:  # merge of two sorted id lists
                if ids[p] == ids[q]:
                    common += 1
                    p += 1
                    q += 1
                elif ids[p] < ids[q]:
                    p += 1
                else:
                    q += 1
            if common:
                value = common / (np.log(li) + np.log(lj))
                sim[i, j] = value
                sim[j, i] = value
    return sim


@njit(cache=True)
def pagerank(weights, damping, tol, max_iter):
    """Weighted PageRank by power iteration; returns (scores, iterations). Scores sum to 1."""
    n = weights.shape[0]
    out_weight = weights.sum(axis=1)
    scores = np.full(n, 1.0 / n)
    fresh = np.empty(n)
    for it in range(1, max_iter + 1):
        dangling = 0.0
        for j in range(n):
            if out_weight[j] == 0.0:
                dangling += scores[j]
        for i in range(n):
            acc = 0.0
            for j in range(n):
                if weights[j, i] != 0.0:
                    acc += weights[j, i] * scores[j] / out_weight[j]
            fresh[i] = (1.0 - damping) / n + damping * (acc + dangling / n)
        delta = 0.0
        for i in range(n):
            delta += abs(fresh[i] - scores[i])
            scores[i] = fresh[i]
        if delta < tol:
            return scores, it
    return scores, max_iter
