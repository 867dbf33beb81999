"""Recommenders over a user x document weight matrix (CSR): ALS, item-based CF, content, hybrid, popularity.

Pure functions and small classes on arrays, so the service, the evaluation and the tests share them.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

from ..textnorm import TOKEN_PATTERN, normalize_text
from .als import fit_als

METHODS = ("hybrid", "als", "item", "content", "popular")
HYBRID_WEIGHTS = {"als": 0.5, "item": 0.3, "content": 0.2}


class ContentIndex:
    """TF-IDF (smooth idf, l2-normalised rows) of documents' text, for cosine similarity."""

    def __init__(self, texts: list[str | None], max_features: int = 50_000):
        token = re.compile(TOKEN_PATTERN)
        vocabulary: dict[str, int] = {}
        rows, cols, values = [], [], []
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for word in token.findall(normalize_text(text or "")):
                column = vocabulary.setdefault(word, len(vocabulary))
                counts[column] = counts.get(column, 0) + 1
            rows.extend([row] * len(counts))
            cols.extend(counts)
            values.extend(counts.values())
        tf = sp.csr_matrix((np.asarray(values, dtype=np.float32), (rows, cols)),
                           shape=(len(texts), max(1, len(vocabulary))))
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        if tf.shape[1] > max_features:
            keep = np.argsort(-df, kind="stable")[:max_features]
            tf, df = tf[:, keep], df[keep]
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        self.matrix = _l2_rows(tf @ sp.diags(idf))

    def similar_to_rows(self, rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Cosine of every document with the (weighted) centroid of ``rows``."""
        if len(rows) == 0:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        weights = np.ones(len(rows), dtype=np.float32) if weights is None else weights.astype(np.float32)
        profile = sp.csr_matrix(weights) @ self.matrix[rows]
        norm = np.sqrt(profile.multiply(profile).sum())
        if norm == 0:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        return np.asarray((self.matrix @ (profile / norm).T).todense()).ravel()


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)


class Recommenders:
    """Every recommender fitted on one weight matrix ``R`` (users x items, weights > 0)."""

    def __init__(self, R: sp.csr_matrix, *, texts: list[str | None] | None = None, factors: int = 32,
                 regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15, seed: int = 0,
                 backend: str = "auto"):
        self.R = sp.csr_matrix(R, dtype=np.float32)
        self.R.sort_indices()
        confidence = (1.0 + alpha * self.R.data).astype(np.float32)
        factors = max(2, min(factors, min(self.R.shape) or 2))
        self.X, self.Y = fit_als(self.R.indptr, self.R.indices, confidence, self.R.shape[1], factors=factors,
                                 regularization=regularization, iterations=iterations, seed=seed, backend=backend)
        binary = self.R.copy()
        binary.data[:] = 1.0
        columns = _l2_rows(sp.csr_matrix(binary.T))  # items as l2-normalised user vectors
        self.item_sim = sp.csr_matrix(columns @ columns.T)
        self.item_sim.setdiag(0)
        self.item_sim.eliminate_zeros()
        self.popularity = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
        self.content = ContentIndex(texts) if texts is not None else None

    def user_scores(self, user: int, method: str) -> np.ndarray:
        row = self.R.getrow(user)
        if method == "popular" or row.nnz == 0:
            return self.popularity.copy()
        if method == "als":
            return self.Y @ self.X[user]
        if method == "item":
            return np.asarray((row @ self.item_sim).todense()).ravel()
        if method == "content":
            if self.content is None:
                return np.zeros(self.R.shape[1], dtype=np.float32)
            return self.content.similar_to_rows(row.indices, row.data)
        if method == "hybrid":
            parts = {m: self.user_scores(user, m) for m in HYBRID_WEIGHTS if m != "content" or self.content}
            return _blend(parts)
        raise ValueError(f"method {method!r} is not one of {METHODS}")

    def item_scores(self, item: int, method: str) -> np.ndarray:
        if method == "als":
            norms = np.linalg.norm(self.Y, axis=1) * (np.linalg.norm(self.Y[item]) or 1.0)
            norms[norms == 0] = 1.0
            return (self.Y @ self.Y[item]) / norms
        if method == "item":
            return np.asarray(self.item_sim.getrow(item).todense()).ravel()
        if method == "content":
            if self.content is None:
                return np.zeros(self.R.shape[1], dtype=np.float32)
            return self.content.similar_to_rows(np.array([item]))
        if method == "hybrid":
            return _blend({m: self.item_scores(item, m) for m in HYBRID_WEIGHTS if m != "content" or self.content})
        raise ValueError(f"method {method!r} is not one of als, item, content, hybrid")

    def recommend(self, user: int, n: int, *, method: str = "hybrid", exclude_seen: bool = True) -> list[tuple[int, float]]:
        scores = self.user_scores(user, method).astype(np.float64)
        if exclude_seen:
            scores[self.R.getrow(user).indices] = -np.inf
        return top_n(scores, n)

    def similar(self, item: int, n: int, *, method: str = "hybrid") -> list[tuple[int, float]]:
        scores = self.item_scores(item, method).astype(np.float64)
        scores[item] = -np.inf
        return top_n(scores, n)


def _blend(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted sum of min-max-scaled scores (weights renormalised over the parts present)."""
    total = sum(HYBRID_WEIGHTS[m] for m in parts)
    blended = np.zeros_like(next(iter(parts.values())), dtype=np.float64)
    for method, scores in parts.items():
        low, high = float(np.min(scores)), float(np.max(scores))
        if high > low:
            blended += HYBRID_WEIGHTS[method] / total * (scores - low) / (high - low)
    return blended


def top_n(scores: np.ndarray, n: int) -> list[tuple[int, float]]:
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) == 0:
        return []
    n = min(n, len(finite))
    best = finite[np.argpartition(-scores[finite], n - 1)[:n]]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]


def holdout_split(R: sp.csr_matrix, fraction: float = 0.2, min_items: int = 5, seed: int = 0):
    """Hide ``fraction`` of each user's items (users with at least ``min_items``): (train, test) CSR."""
    R = sp.csr_matrix(R)
    rng = np.random.default_rng(seed)
    train, test = R.tolil(copy=True), sp.lil_matrix(R.shape, dtype=R.dtype)
    for u in range(R.shape[0]):
        items = R.indices[R.indptr[u]:R.indptr[u + 1]]
        if len(items) < min_items:
            continue
        hidden = rng.choice(items, max(1, round(fraction * len(items))), replace=False)
        for i in hidden:
            test[u, i] = R[u, i]
            train[u, i] = 0
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    return train, sp.csr_matrix(test)


def precision_at_k(model: Recommenders, test: sp.csr_matrix, k: int, method: str) -> tuple[float, int]:
    """Mean over test users of |top-k (excluding training items) ∩ held-out items| / k."""
    hits, users = [], 0
    for u in range(test.shape[0]):
        truth = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        if not truth:
            continue
        users += 1
        top = [i for i, _ in model.recommend(u, k, method=method, exclude_seen=True)]
        hits.append(len(truth.intersection(top)) / k)
    return (float(np.mean(hits)) if hits else 0.0), users
