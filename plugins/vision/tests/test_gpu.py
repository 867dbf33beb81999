"""The CuPy path mirrors the Numba kernels (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from paperchain_vision.gpu import gpu_available

pytestmark = pytest.mark.skipif(not gpu_available(), reason="needs a CUDA GPU (cupy.is_available() is False)")


def test_kmeans_cupy_equals_numba():
    from paperchain_vision.kmeans import kmeans

    x = np.random.default_rng(0).random((5000, 3)) * 255
    a, b = kmeans(x, 4, seed=2, backend="numba"), kmeans(x, 4, seed=2, backend="cupy")
    assert np.allclose(a.centers, b.centers) and np.array_equal(a.labels, b.labels)


def test_filters_cupy_equal_numba():
    from paperchain_vision import filters, gpu

    img = (np.random.default_rng(1).random((64, 80)) * 255).astype(np.uint8)
    assert np.array_equal(gpu.median_filter_cupy(img, 3), filters.median_filter(img, 3))
    f = img / 255.0
    assert np.allclose(gpu.unsharp_cupy(f, 1.5, 1.0), filters.unsharp_mask(f, 1.5, 1.0), atol=1e-9)
