"""The CPU backend of :mod:`paperchain_ocr.preprocess`: the Numba kernels behind one interface."""

from __future__ import annotations

import numpy as np

from . import kernels
from .kernels import median3, otsu_threshold, rotate, sauvola_binarize, threshold

NAME = "numba"
# Skew search: coarse steps over the whole range, then fine steps around the best coarse angle,
# on every SKEW_STRIDE-th pixel in each direction (plenty of points for a page of text).
COARSE_STEP = 0.5
FINE_STEP = 0.05
SKEW_STRIDE = 2
__all__ = ["median3", "otsu_threshold", "rotate", "sauvola_binarize", "threshold"]


def asarray(image) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.uint8)


def asnumpy(image) -> np.ndarray:
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    return kernels.grayscale(np.ascontiguousarray(image[..., :3]))


def rotate90(image: np.ndarray) -> np.ndarray:
    # Lines that run down the page read left to right once turned clockwise.
    return np.ascontiguousarray(np.rot90(image, k=-1))


def rotate180(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[::-1, ::-1])


def upright_evidence(binary: np.ndarray) -> tuple[float, int]:
    """(share of the ink beyond the x-height above it, text lines seen): see kernels.ascender_share."""
    return kernels.ascender_share(kernels.dark_rows(binary), max(2, binary.shape[1] // 500))


def line_directions(gray: np.ndarray, max_skew: float) -> tuple[float, float]:
    """(across, down): how sharply the dark pixels form lines running across the page, and down
    it. Each is scored at its own best angle within ``max_skew``, so a skewed page of text still
    reads as lines across (a profile at exactly 0 degrees blurs them and can lose to columns)."""
    ys, xs = kernels.dark_points(gray, kernels.otsu_threshold(gray), SKEW_STRIDE)
    if ys.size < 100:  # a blank page: nothing to turn
        return 0.0, 0.0
    h, w = (n // SKEW_STRIDE + 1 for n in gray.shape)
    across = _best_score(ys, xs, h, w, max_skew)
    down = _best_score(xs, (h - 1) - ys, w, h, max_skew)  # the points of the page turned clockwise
    # as fractions of a row (or column) per bin, so pages of any shape compare
    return across / (w * w * max(h - 1, 1)), down / (h * h * max(w - 1, 1))


def _best_score(ys, xs, h, w, max_skew):
    angle = kernels.best_angle(ys, xs, h, w, -max_skew, max_skew, COARSE_STEP)
    return kernels.projection_score(ys, xs, angle, h, w)


def estimate_skew(gray: np.ndarray, max_skew: float) -> float:
    """Skew of the text lines in degrees; ``rotate(gray, angle)`` levels them."""
    ys, xs = kernels.dark_points(gray, kernels.otsu_threshold(gray), SKEW_STRIDE)
    if ys.size < 100:  # a blank page has no lines to level
        return 0.0
    h, w = (n // SKEW_STRIDE + 1 for n in gray.shape)
    coarse = kernels.best_angle(ys, xs, h, w, -max_skew, max_skew, COARSE_STEP)
    lo, hi = max(-max_skew, coarse - COARSE_STEP), min(max_skew, coarse + COARSE_STEP)
    return kernels.best_angle(ys, xs, h, w, lo, hi, FINE_STEP)
