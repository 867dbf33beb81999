"""Each Numba kernel against scikit-image, SciPy or a NumPy reference, on a real scanned page."""

from __future__ import annotations

import numpy as np
import pytest
import ocr_reference as ref
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu, threshold_sauvola
from skimage.transform import rotate as sk_rotate

from paperchain_ocr import cpu, kernels
from paperchain_ocr.preprocess import gpu_available

scipy_ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture(scope="module")
def page():
    """The skewed brochure page of the shared samples, in gray at 150 dpi."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(ref.TESTDATA / "skew.pdf"))
    try:
        return np.ascontiguousarray(pdf[0].render(scale=150 / 72, grayscale=True).to_numpy())
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def color(page):
    rng = np.random.default_rng(7)
    tint = rng.integers(0, 60, size=3)
    return np.clip(page[..., None].astype(int) + tint[None, None, :] - 30, 0, 255).astype(np.uint8)


def test_grayscale_matches_skimage(color):
    ours = kernels.grayscale(color).astype(int)
    theirs = np.rint(rgb2gray(color) * 255).astype(int)
    assert np.abs(ours - theirs).max() <= 1
    assert (ours == theirs).mean() > 0.999


def test_otsu_matches_skimage(page):
    assert kernels.otsu_threshold(page) == threshold_otsu(page)
    blank = np.full((20, 30), 200, np.uint8)
    assert kernels.otsu_threshold(blank) == 200


def test_sauvola_matches_skimage_away_from_the_borders(page):
    window, k = 25, 0.2
    ours = kernels.sauvola_threshold(page, window, k, 127.5)
    theirs = threshold_sauvola(page, window_size=window, k=k)
    inner = (slice(window // 2, -(window // 2)),) * 2
    np.testing.assert_allclose(ours[inner], theirs[inner], rtol=0, atol=1e-6)
    binary = kernels.sauvola_binarize(page, window, k, 127.5)
    assert np.array_equal(binary[inner] > 0, (page > theirs)[inner])


def test_median_matches_scipy(page):
    noisy = page.copy()
    rng = np.random.default_rng(3)
    noisy.flat[rng.choice(noisy.size, 5000, replace=False)] = 0
    assert np.array_equal(kernels.median3(noisy), scipy_ndimage.median_filter(noisy, size=3, mode="nearest"))


def test_rotation_matches_skimage(page):
    ours = kernels.rotate(page, 1.8, 255).astype(int)
    theirs = sk_rotate(page, 1.8, order=1, mode="constant", cval=255, preserve_range=True)
    inner = (slice(40, -40),) * 2  # the corners filled from outside the page differ by rounding rules
    assert np.abs(ours[inner] - np.rint(theirs[inner])).max() <= 1


@pytest.mark.parametrize("angle", [0.0, -7.5, 33.0, 90.0, 135.0, 180.0, -170.0])
def test_rotation_matches_skimage_at_any_angle_including_borders(angle):
    # Random pixels stress the fixed-point interior and the checked border path alike.
    noise = np.random.default_rng(1).integers(0, 256, (301, 217)).astype(np.uint8)
    ours = kernels.rotate(noise, angle, 255).astype(int)
    theirs = sk_rotate(noise, angle, order=1, mode="constant", cval=255, preserve_range=True)
    assert np.abs(ours - np.rint(theirs)).max() <= 1


def test_skew_estimate_matches_reference_and_levels_the_page(page):
    level = kernels.otsu_threshold(page)
    angle = cpu.estimate_skew(page, 5.0)
    assert angle == pytest.approx(ref.estimate_skew(page, 5.0, level), abs=1e-9)
    assert 1.0 < angle < 2.5  # the brochure is visibly turned by about 2 degrees
    leveled = kernels.rotate(page, angle, 255)
    assert abs(cpu.estimate_skew(leveled, 5.0)) <= 0.1


def test_line_direction_matches_reference_and_sees_a_turned_page():
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(ref.TESTDATA / "multipage.pdf"))
    try:  # page 6: two columns of book text
        text_page = np.ascontiguousarray(pdf[5].render(scale=150 / 72, grayscale=True).to_numpy())
    finally:
        pdf.close()
    binary = kernels.threshold(text_page, kernels.otsu_threshold(text_page))
    ours = kernels.line_direction_scores(binary)
    assert ours == pytest.approx(ref.line_direction_scores(binary), rel=1e-9)
    horizontal, vertical = ours
    assert horizontal > vertical
    turned_h, turned_v = kernels.line_direction_scores(np.ascontiguousarray(np.rot90(binary)))
    assert turned_v > turned_h


@pytest.mark.skipif(not gpu_available(), reason="CuPy sees no CUDA device")
def test_gpu_backend_mirrors_the_numba_kernels(page, color):  # pragma: no cover - needs a GPU
    from paperchain_ocr import gpu

    g = gpu.asarray(page)
    assert np.array_equal(gpu.asnumpy(gpu.to_gray(gpu.asarray(color))), kernels.grayscale(color))
    assert gpu.otsu_threshold(g) == kernels.otsu_threshold(page)
    np.testing.assert_allclose(gpu.asnumpy(gpu.sauvola_threshold(g, 25, 0.2, 127.5)),
                               kernels.sauvola_threshold(page, 25, 0.2, 127.5), atol=1e-6)
    assert np.array_equal(gpu.asnumpy(gpu.median3(g)), kernels.median3(page))
    assert np.abs(gpu.asnumpy(gpu.rotate(g, 1.8, 255)).astype(int) - kernels.rotate(page, 1.8, 255)).max() <= 1
    assert gpu.estimate_skew(g, 5.0) == pytest.approx(cpu.estimate_skew(page, 5.0))
