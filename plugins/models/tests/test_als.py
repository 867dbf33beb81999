"""The ALS kernels against their NumPy references (and implicit's loss, when installed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from paperchain_models.recommend import als


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    R = sp.random(120, 80, density=0.08, random_state=2, format="csr", dtype=np.float32)
    R.data = 1.0 + 10.0 * R.data
    R.sort_indices()
    X0 = rng.random((120, 12), dtype=np.float32) * 0.1
    Y0 = rng.random((80, 12), dtype=np.float32) * 0.1
    YtY = Y0.T @ Y0 + np.float32(0.1) * np.eye(12, dtype=np.float32)
    return R, X0, Y0, YtY


def test_numba_cg_step_matches_the_numpy_reference(problem):
    R, X0, Y0, YtY = problem
    ours, ref = X0.copy(), X0.copy()
    als.als_half_step(R.indptr.astype(np.int64), R.indices, R.data, ours, Y0, YtY, 3)
    als.als_half_step_reference(R.indptr, R.indices, R.data, ref, Y0, YtY.astype(np.float64), 3)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4)
    assert not np.allclose(ours, X0)


def test_enough_cg_steps_reach_the_exact_least_squares_solution(problem):
    R, X0, Y0, YtY = problem
    ours, exact = X0.copy(), X0.copy()
    als.als_half_step(R.indptr.astype(np.int64), R.indices, R.data, ours, Y0, YtY, 40)
    als.exact_half_step(R.indptr, R.indices, R.data, exact, Y0, YtY.astype(np.float64))
    np.testing.assert_allclose(ours, exact, rtol=1e-3, atol=1e-3)


def test_loss_matches_the_dense_reference_and_falls(problem):
    R, *_ = problem
    X, Y = als.fit_als(R.indptr, R.indices, R.data, R.shape[1], factors=8, regularization=0.1, iterations=1,
                       backend="numba")
    first = als.als_loss(R.indptr.astype(np.int64), R.indices, R.data, X, Y, 0.1)
    assert first == pytest.approx(als.als_loss_reference(R.toarray(), X, Y, 0.1), rel=1e-6)
    X, Y = als.fit_als(R.indptr, R.indices, R.data, R.shape[1], factors=8, regularization=0.1, iterations=8,
                       backend="numba")
    assert als.als_loss(R.indptr.astype(np.int64), R.indices, R.data, X, Y, 0.1) < first


def test_loss_is_the_same_as_implicits(problem):
    implicit_als = pytest.importorskip("implicit.cpu._als", reason="implicit is in the test extra")
    R, *_ = problem
    X, Y = als.fit_als(R.indptr, R.indices, R.data, R.shape[1], factors=8, regularization=0.1, iterations=3,
                       backend="numba")
    ours = als.als_loss(R.indptr.astype(np.int64), R.indices, R.data, X, Y, 0.1)
    assert ours == pytest.approx(implicit_als.calculate_loss(R, X, Y, 0.1, num_threads=1), rel=1e-5)


def test_transpose_matches_scipy(problem):
    R, *_ = problem
    indptr, indices, data = als.transpose_csr(R.indptr, R.indices, R.data, R.shape[1])
    T = R.T.tocsr()
    T.sort_indices()
    np.testing.assert_array_equal(indptr, T.indptr)
    np.testing.assert_array_equal(indices, T.indices)
    np.testing.assert_array_equal(data, T.data)


def test_cupy_kernel_matches_numba(problem):
    cupy = pytest.importorskip("cupy")
    if not cupy.is_available():
        pytest.skip("no GPU: the CuPy path is exercised only where CUDA is available")
    R, X0, Y0, YtY = problem
    ours = X0.copy()
    als.als_half_step(R.indptr.astype(np.int64), R.indices, R.data, ours, Y0, YtY, 3)
    gX = cupy.asarray(X0)
    als.als_half_step_cupy(cupy.asarray(R.indptr.astype(np.int32)), cupy.asarray(R.indices), cupy.asarray(R.data),
                           gX, cupy.asarray(Y0), cupy.asarray(YtY), 3)
    np.testing.assert_allclose(cupy.asnumpy(gX), ours, rtol=1e-3, atol=1e-4)
    X, Y = als.fit_als(R.indptr, R.indices, R.data, R.shape[1], factors=8, iterations=3, backend="cupy")
    Xn, Yn = als.fit_als(R.indptr, R.indices, R.data, R.shape[1], factors=8, iterations=3, backend="numba")
    np.testing.assert_allclose(X, Xn, rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(Y, Yn, rtol=1e-2, atol=1e-3)
