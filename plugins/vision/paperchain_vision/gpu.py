"""The CuPy path: chosen at run time when a GPU is present, mirroring the Numba kernels.

``cupy.is_available()`` decides (a CuPy install without a GPU imports fine and fails on first use).
Untested on a GPU in this repository's CI; the tests of this module skip without one.
"""

from __future__ import annotations

import importlib.util

import numpy as np


def gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    import cupy

    return bool(cupy.is_available())


def use_gpu(backend: str) -> bool:
    if backend not in ("auto", "numba", "cupy"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'cupy', got {backend!r}")
    if backend == "numba":
        return False
    available = gpu_available()
    if backend == "cupy" and not available:
        from paperchain_sdk import MissingDependency

        raise MissingDependency("backend='cupy' needs a CUDA GPU and CuPy.", hint="pip install 'paperchain-vision[gpu]' on a GPU host")
    return available


def kmeans_cupy(x: np.ndarray, k: int, uniforms: np.ndarray, max_iter: int, tol: float):
    """The Numba k-means (same k-means++ choices from ``uniforms``, same Lloyd updates) on the GPU."""
    import cupy as cp

    from .kmeans import KMeansResult

    gx = cp.asarray(x)
    n = gx.shape[0]
    centers = [gx[min(int(uniforms[0] * n), n - 1)]]
    closest = ((gx - centers[0]) ** 2).sum(axis=1)
    for u in uniforms[1:]:
        cumulative = cp.cumsum(closest)
        chosen = int(cp.searchsorted(cumulative, float(u) * cumulative[-1], side="right"))
        centers.append(gx[min(chosen, n - 1)])
        closest = cp.minimum(closest, ((gx - centers[-1]) ** 2).sum(axis=1))
    centers = cp.stack(centers).astype(cp.float64)
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        labels = ((gx[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        counts = cp.bincount(labels, minlength=k)
        sums = cp.zeros_like(centers)
        cp.add.at(sums, labels, gx)
        filled = counts > 0
        new = cp.where(filled[:, None], sums / cp.maximum(counts, 1)[:, None], centers)
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    distances = ((gx[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = distances.argmin(axis=1)
    return KMeansResult(cp.asnumpy(centers), cp.asnumpy(labels), float(distances.min(axis=1).sum()), iterations)


def median_filter_cupy(image: np.ndarray, size: int) -> np.ndarray:
    """Mirror of :func:`.filters.median_filter` (reflected borders) with cupyx.scipy.ndimage."""
    import cupy as cp
    from cupyx.scipy import ndimage

    return cp.asnumpy(ndimage.median_filter(cp.asarray(image), size=size, mode="reflect"))


def unsharp_cupy(image: np.ndarray, radius: float, amount: float) -> np.ndarray:
    """Mirror of :func:`.filters.unsharp_mask`: gaussian with reflected borders, truncate 4."""
    import cupy as cp
    from cupyx.scipy import ndimage

    g = cp.asarray(image, dtype=cp.float64)
    blurred = ndimage.gaussian_filter(g, sigma=radius, mode="reflect", truncate=4.0)
    return cp.asnumpy(cp.clip(g + amount * (g - blurred), 0.0, 1.0))
