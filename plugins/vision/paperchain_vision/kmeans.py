"""k-means for dominant colors: k-means++ seeding and Lloyd iterations as Numba kernels.

Randomness is drawn in Python from ``numpy.random.default_rng(seed)`` and handed to the kernels as
arrays, so the Numba kernels, the NumPy reference (:func:`kmeans_reference`) and the CuPy path
make the same choices and give the same answer for the same seed.

Speed: a page has far fewer distinct colors than pixels, so the kernels first group equal pixels
(a hash table, one pass) and iterate Lloyd on the distinct values weighted by their counts: the
same assignments and the same centers (up to the order of floating-point sums) at a fraction of
the work. k-means++ still draws its rows from all pixels in order, so seeding is unchanged.
"""

from __future__ import annotations

import attrs
import numpy as np
from numba import njit


@attrs.frozen
class KMeansResult:
    centers: np.ndarray  # (k, d) float64
    labels: np.ndarray  # (n,) int64
    inertia: float  # sum of squared distances to the assigned center
    iterations: int


@njit(cache=True, inline="always")
def _row_hash(bits, i):
    h = np.uint64(0x9E3779B97F4A7C15)
    for j in range(bits.shape[1]):
        h = (h ^ np.uint64(bits[i, j])) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(32))


@njit(cache=True)
def _grown(array, capacity):
    bigger = np.empty((capacity,) + array.shape[1:], array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


@njit(cache=True)
def _distinct_rows(bits):
    """Group equal rows (by bit pattern) with an open-addressing hash table.

    Returns the first row of each distinct value, how many rows share it, and each row's group.
    Pages have far fewer distinct colors than pixels (a 50,000-pixel photo sample: about 2,800),
    and k-means on the distinct colors weighted by their counts is the same k-means. The table
    grows with the number of distinct values (not of rows) so it stays in cache, and the distinct
    values are kept in a compact copy so a probe never reads back into ``bits``.
    """
    n, d = bits.shape
    size = 1024
    table = np.full(size, -1, np.int64)
    capacity = size // 2 + 1  # per-value arrays grow with the table, not with the rows
    values = np.empty((capacity, d), np.int64)
    hashes = np.empty(capacity, np.uint64)
    first = np.empty(capacity, np.int64)
    counts = np.empty(capacity, np.int64)
    group = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        h = _row_hash(bits, i)
        slot = np.int64(h & np.uint64(size - 1))
        while True:
            u = table[slot]
            if u == -1:
                table[slot] = m
                hashes[m] = h
                for j in range(d):
                    values[m, j] = bits[i, j]
                first[m] = i
                counts[m] = 1
                group[i] = m
                m += 1
                if 2 * m > size:  # keep the load under one half: double and re-insert
                    size *= 2
                    capacity = size // 2 + 1
                    values = _grown(values, capacity)
                    hashes = _grown(hashes, capacity)
                    first = _grown(first, capacity)
                    counts = _grown(counts, capacity)
                    table = np.full(size, -1, np.int64)
                    for v in range(m):
                        s = np.int64(hashes[v] & np.uint64(size - 1))
                        while table[s] != -1:
                            s = (s + 1) & (size - 1)
                        table[s] = v
                break
            if hashes[u] == h:
                same = True
                for j in range(d):
                    if values[u, j] != bits[i, j]:
                        same = False
                        break
                if same:
                    counts[u] += 1
                    group[i] = u
                    break
            slot = (slot + 1) & (size - 1)
    return first[:m].copy(), counts[:m].copy(), group


@njit(cache=True)
def _plusplus(x, group, distinct, uniforms):
    """k-means++: the first center by ``uniforms[0]``, each next one with probability ∝ D².

    Distances are computed once per distinct value; the draw still walks the rows in order (as
    the reference's cumulative sum does), so the same row is chosen.
    """
    n, d = x.shape
    m = distinct.shape[0]
    k = uniforms.shape[0]
    centers = np.empty((k, d), np.float64)
    first = min(int(uniforms[0] * n), n - 1)
    for j in range(d):
        centers[0, j] = x[first, j]
    closest = np.empty(m, np.float64)
    for u in range(m):
        s = 0.0
        for j in range(d):
            t = distinct[u, j] - centers[0, j]
            s += t * t
        closest[u] = s
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += closest[group[i]]
        target = uniforms[c] * total
        chosen = n - 1
        running = 0.0
        for i in range(n):
            running += closest[group[i]]
            if running > target:
                chosen = i
                break
        for j in range(d):
            centers[c, j] = x[chosen, j]
        for u in range(m):
            s = 0.0
            for j in range(d):
                t = distinct[u, j] - centers[c, j]
                s += t * t
            if s < closest[u]:
                closest[u] = s
    return centers


@njit(cache=True)
def _assign(x, centers, labels):
    """Nearest center of every row (first one on ties); returns each row's squared distance."""
    n, d = x.shape
    k = centers.shape[0]
    best_of = np.empty(n, np.float64)
    for i in range(n):
        best, best_c = np.inf, 0
        for c in range(k):
            s = 0.0
            for j in range(d):
                t = x[i, j] - centers[c, j]
                s += t * t
            if s < best:
                best, best_c = s, c
        labels[i] = best_c
        best_of[i] = best
    return best_of


@njit(cache=True)
def _lloyd(x, weights, centers, max_iter, tol):
    """Lloyd iterations on weighted rows (a weight = how many pixels share the row's value)."""
    n, d = x.shape
    k = centers.shape[0]
    labels = np.zeros(n, np.int64)
    sums = np.zeros((k, d), np.float64)
    counts = np.zeros(k, np.float64)
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        _assign(x, centers, labels)
        sums[:] = 0.0
        counts[:] = 0.0
        for i in range(n):
            c = labels[i]
            w = weights[i]
            counts[c] += w
            for j in range(d):
                sums[c, j] += w * x[i, j]
        shift = 0.0
        for c in range(k):
            if counts[c] == 0.0:
                continue  # an empty cluster keeps its center
            for j in range(d):
                new = sums[c, j] / counts[c]
                t = new - centers[c, j]
                shift += t * t
                centers[c, j] = new
        if shift <= tol:
            break
    best_of = _assign(x, centers, labels)
    inertia = 0.0
    for i in range(n):
        inertia += weights[i] * best_of[i]
    return centers, labels, inertia, iterations


def _prepare(pixels, k, seed):
    x = np.ascontiguousarray(pixels, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"k-means needs a non-empty (n, d) array, got shape {x.shape}")
    k = min(int(k), x.shape[0])
    uniforms = np.random.default_rng(seed).random(k)
    return x, k, uniforms


def kmeans(pixels, k: int, *, seed: int = 0, max_iter: int = 100, tol: float = 1e-4, backend: str = "auto") -> KMeansResult:
    """Cluster ``pixels`` (n, d) into ``k`` groups. ``backend``: "auto" (CuPy when a GPU is present), "numba", "cupy".

    >>> kmeans(np.array([[0, 0], [0, 1], [10, 10], [10, 11]]), 2).inertia
    1.0
    """
    x, k, uniforms = _prepare(pixels, k, seed)
    from .gpu import use_gpu

    if use_gpu(backend):
        from .gpu import kmeans_cupy

        return kmeans_cupy(x, k, uniforms, max_iter, tol)
    first, counts, group = _distinct_rows(x.view(np.int64))
    distinct = x[first]
    centers = _plusplus(x, group, distinct, uniforms)
    centers, labels, inertia, iterations = _lloyd(distinct, counts.astype(np.float64), centers, max_iter, tol)
    return KMeansResult(centers, labels[group], float(inertia), int(iterations))


# -- the reference the kernels are tested against ---------------------------------------------


def plusplus_reference(x: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    centers = [x[min(int(uniforms[0] * n), n - 1)]]
    closest = ((x - centers[0]) ** 2).sum(axis=1)
    for u in uniforms[1:]:
        cumulative = np.cumsum(closest)
        chosen = int(np.searchsorted(cumulative, u * cumulative[-1], side="right"))
        centers.append(x[min(chosen, n - 1)])
        closest = np.minimum(closest, ((x - centers[-1]) ** 2).sum(axis=1))
    return np.array(centers, dtype=np.float64)


def kmeans_reference(pixels, k: int, *, seed: int = 0, max_iter: int = 100, tol: float = 1e-4) -> KMeansResult:
    """The same algorithm in vectorised NumPy: slow on big inputs, obviously right."""
    x, k, uniforms = _prepare(pixels, k, seed)
    centers = plusplus_reference(x, uniforms)
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        labels = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, x)
        filled = counts > 0
        new = centers.copy()
        new[filled] = sums[filled] / counts[filled, None]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    distances = ((x[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = distances.argmin(axis=1)
    return KMeansResult(centers, labels, float(distances.min(axis=1).sum()), iterations)
