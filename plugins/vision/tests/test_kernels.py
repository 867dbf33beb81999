"""Every Numba kernel against its reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from paperchain_vision import filters
from paperchain_vision.kmeans import kmeans, kmeans_reference


def test_kmeans_equals_numpy_reference():
    rng = np.random.default_rng(0)
    pixels = np.concatenate([rng.normal(c, 12, (700, 3)) for c in ((30, 40, 50), (200, 30, 30), (90, 200, 120))])
    for k in (1, 3, 5):
        ours, ref = kmeans(pixels, k, seed=11, backend="numba"), kmeans_reference(pixels, k, seed=11)
        assert np.allclose(ours.centers, ref.centers)
        assert np.array_equal(ours.labels, ref.labels)
        assert ours.inertia == pytest.approx(ref.inertia, rel=1e-9)


def test_kmeans_is_deterministic_per_seed_and_handles_few_pixels():
    pixels = np.array([[0, 0, 0], [255, 255, 255]], float)
    result = kmeans(pixels, 5, backend="numba")  # more clusters than pixels
    assert result.inertia == 0 and len(result.centers) == 2
    rng = np.random.default_rng(1)
    many = rng.random((500, 3))
    assert np.array_equal(kmeans(many, 4, seed=3).centers, kmeans(many, 4, seed=3).centers)


def test_kmeans_inertia_is_as_good_as_scikit_learns(testdata):
    from PIL import Image
    from sklearn.cluster import KMeans

    rgb = np.asarray(Image.open(testdata / "baiona.png").convert("RGB"), dtype=np.float64).reshape(-1, 3)
    sample = rgb[np.random.default_rng(0).choice(len(rgb), 20_000, replace=False)]
    for k in (3, 6):
        ours = min(kmeans(sample, k, seed=s).inertia for s in range(3))
        theirs = KMeans(n_clusters=k, n_init=3, random_state=0).fit(sample).inertia_
        assert ours <= theirs * 1.05, (k, ours, theirs)


def test_laplacian_variance_equals_scipy():
    g = np.random.default_rng(2).random((60, 45)) * 255
    assert filters.laplacian_variance(g) == pytest.approx(ndi.laplace(g, mode="reflect").var(), rel=1e-9)


def test_noise_sigma_equals_convolution_reference():
    g = np.random.default_rng(3).normal(128, 10, (80, 90))
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float)
    conv = ndi.convolve(g, mask)[1:-1, 1:-1]
    expected = np.abs(conv).sum() * np.sqrt(np.pi / 2) / (6 * 78 * 88)
    assert filters.noise_sigma(g) == pytest.approx(expected, rel=1e-9)
    assert 8 < filters.noise_sigma(g) < 12  # it measures the noise it was given


@pytest.mark.parametrize("size", [3, 5])
def test_median_filter_equals_scipy(size):
    img = (np.random.default_rng(4).random((37, 53)) * 255).astype(np.uint8)
    assert np.array_equal(filters.median_filter(img, size), ndi.median_filter(img, size=size, mode="reflect"))


def test_unsharp_mask_equals_scikit_image():
    from skimage.filters import unsharp_mask

    img = np.random.default_rng(5).random((40, 50))
    ours = filters.unsharp_mask(img, radius=1.5, amount=1.2)
    assert np.allclose(ours, unsharp_mask(img, radius=1.5, amount=1.2), atol=1e-9)


def test_skew_scores_equal_reference(text_page):
    ys, xs = np.nonzero(np.asarray(text_page(200, 150, angle=3)) < 128)
    angles = np.arange(-5, 5.01, 0.5)
    ours = filters._skew_scores(ys.astype(float), xs.astype(float), angles, 150, 200)
    assert np.allclose(ours, filters.skew_scores_reference(ys.astype(float), xs.astype(float), angles, 150, 200))


@pytest.mark.parametrize("angle", [-6.0, 0.0, 2.5, 9.0])
def test_skew_angle_finds_the_rotation(text_page, angle):
    gray = np.asarray(text_page(angle=angle), dtype=float) / 255
    assert filters.skew_angle(gray) == pytest.approx(angle, abs=0.3)


def test_skew_angle_of_a_blank_page_is_unknown():
    assert filters.skew_angle(np.ones((100, 100))) is None


def test_kmeans_on_repeated_colors_equals_reference():
    # real pages repeat colors: the kernels group equal pixels, the reference does not
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (40, 3)).astype(np.float64)
    pixels = palette[rng.integers(0, 40, 6000)]
    for k in (2, 6):
        ours, ref = kmeans(pixels, k, seed=4, backend="numba"), kmeans_reference(pixels, k, seed=4)
        assert np.allclose(ours.centers, ref.centers)
        assert np.array_equal(ours.labels, ref.labels)
        assert ours.inertia == pytest.approx(ref.inertia, rel=1e-9)


def test_distinct_rows_groups_equal_rows():
    from paperchain_vision.kmeans import _distinct_rows

    rng = np.random.default_rng(6)
    for values in (5, 40):  # 125 distinct rows, then about 20,000 (the table grows several times)
        x = rng.integers(0, values, (30_000, 3)).astype(np.float64)
        first, counts, group = _distinct_rows(x.view(np.int64))
        assert len(first) == len(np.unique(x, axis=0)) and counts.sum() == len(x)
        assert np.array_equal(x[first][group], x)  # every row maps to its own value
        assert np.array_equal(np.bincount(group), counts)
