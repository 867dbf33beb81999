"""Each Numba kernel against scikit-image, SciPy or a NumPy reference, on a real scanned page."""

from __future__ import annotations

import functools

import numpy as np
import ocr_reference as ref
import pytest
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


def test_line_directions_match_reference_and_see_a_turned_page(page):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(ref.TESTDATA / "multipage.pdf"))
    try:  # page 6: two columns of book text
        text_page = np.ascontiguousarray(pdf[5].render(scale=150 / 72, grayscale=True).to_numpy())
    finally:
        pdf.close()
    across, down = cpu.line_directions(text_page, 5.0)
    theirs = ref.line_directions(text_page, 5.0, kernels.otsu_threshold(text_page))
    assert (across, down) == pytest.approx(theirs, rel=1e-9)
    assert across > down
    turned_across, turned_down = cpu.line_directions(np.ascontiguousarray(np.rot90(text_page)), 5.0)
    assert turned_down > turned_across
    # the skewed two-column brochure: its lines still run across (at 0 degrees, columns won)
    skewed_across, skewed_down = cpu.line_directions(page, 5.0)
    assert skewed_across > skewed_down


@functools.lru_cache(maxsize=1)
def _shared_pages():
    """Real pages at 150 dpi: scans with many lines of text, and three with almost none."""
    import pypdfium2 as pdfium
    from PIL import Image

    pages = {name: np.asarray(Image.open(ref.TESTDATA / name).convert("L")) for name in ("typewriter.png", "baiona.png")}
    for name, numbers in (("skew.pdf", [1]), ("multipage.pdf", [1, 3, 5, 6]), ("graph.pdf", [1])):
        pdf = pdfium.PdfDocument(str(ref.TESTDATA / name))
        try:
            for n in numbers:
                pages[f"{name} p{n}"] = np.ascontiguousarray(pdf[n - 1].render(scale=150 / 72, grayscale=True).to_numpy())
        finally:
            pdf.close()
    return pages


def test_upside_down_evidence_matches_reference():
    for gray in _shared_pages().values():
        binary = kernels.threshold(gray, kernels.otsu_threshold(gray))
        floor = max(2, binary.shape[1] // 500)
        ours = kernels.ascender_share(kernels.dark_rows(binary), floor)
        theirs = ref.ascender_share(binary, floor)
        assert ours[1] == theirs[1] and ours[0] == pytest.approx(theirs[0], abs=1e-12)


def test_orientation_turns_upside_down_scans_back_and_leaves_the_rest():
    from types import SimpleNamespace

    from paperchain_ocr.preprocess import preprocess

    options = SimpleNamespace(binarize="none", deskew=True, max_skew=5.0, denoise=False, orientation=True)
    turned_back = []
    for name, gray in _shared_pages().items():
        upright, report = preprocess(gray, options, "cpu")
        assert report.get("rotated", 0) % 360 == 0, f"{name} was upright but turned: {report}"
        flipped, report = preprocess(np.ascontiguousarray(gray[::-1, ::-1]), options, "cpu")
        if report.get("rotated") == 180:
            turned_back.append(name)
    # every page with lines of text is found upside down; the graph and the two-line pages are left as they are
    assert sorted(turned_back) == ["multipage.pdf p1", "multipage.pdf p5", "multipage.pdf p6", "skew.pdf p1",
                                   "typewriter.png"]


@pytest.mark.parametrize("name", ["typewriter.png", "skew.pdf p1"])
def test_orientation_brings_a_scan_back_from_every_quarter_turn(name):
    from types import SimpleNamespace

    from paperchain_ocr.preprocess import preprocess

    gray = _shared_pages()[name]
    options = SimpleNamespace(binarize="none", deskew=True, max_skew=5.0, denoise=False, orientation=True)
    turns = [preprocess(np.ascontiguousarray(np.rot90(gray, k)), options, "cpu")[1].get("rotated", 0) for k in range(4)]
    assert turns == [0, 90, 180, 270]  # np.rot90 turns counter-clockwise; ours turn clockwise


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
    assert gpu.line_directions(g, 5.0) == pytest.approx(cpu.line_directions(page, 5.0), rel=1e-9)
    binary = kernels.threshold(page, kernels.otsu_threshold(page))
    assert gpu.upright_evidence(gpu.asarray(binary)) == pytest.approx(cpu.upright_evidence(binary))
    assert np.array_equal(gpu.asnumpy(gpu.rotate180(g)), cpu.rotate180(page))


def test_ink_box_and_runs_match_numpy(page):
    level = 128
    assert kernels.ink_box(page, level) == ref.ink_box(page, level)
    assert kernels.ink_runs(page, level) == ref.ink_runs(page, level)
    blank = np.full((40, 50), 255, np.uint8)
    assert kernels.ink_box(blank, level) == (0, 0, 0, 0) and kernels.ink_runs(blank, level) == 0
    speck = blank.copy()
    speck[7, 49] = speck[30, 3] = 0  # ink on the last column and near the bottom-left
    assert kernels.ink_box(speck, level) == ref.ink_box(speck, level) == (7, 31, 3, 50)
    assert kernels.ink_runs(speck, level) == 2
    full = np.zeros((3, 4), np.uint8)
    assert kernels.ink_box(full, level) == (0, 3, 0, 4) and kernels.ink_runs(full, level) == 3


def test_grayscale_bgr_matches_the_rgb_kernel_and_composites_alpha_on_white(color):
    bgr = np.ascontiguousarray(color[..., ::-1])
    assert np.array_equal(kernels.grayscale_bgr(bgr), kernels.grayscale(color))
    alpha = np.random.default_rng(3).integers(0, 256, color.shape[:2], dtype=np.uint8)
    bgra = np.ascontiguousarray(np.dstack([bgr, alpha]))
    luma = kernels.grayscale(color).astype(float)
    expected = np.clip(255 - (255 - luma) * alpha / 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(kernels.grayscale_bgr(bgra).astype(int) - expected).max() <= 1
    assert np.all(kernels.grayscale_bgr(np.dstack([bgr, np.zeros_like(alpha)])) == 255)  # transparent: white
