"""The CPU backend of :mod:`paperchain_ocr.preprocess`: the Numba kernels behind one interface."""

from __future__ import annotations

import numpy as np

from . import kernels
from .kernels import line_direction_scores, median3, otsu_threshold, rotate, sauvola_binarize, threshold

NAME = "numba"
# Skew search: coarse steps over the whole range, then fine steps around the best coarse angle,
# on every SKEW_STRIDE-th pixel in each direction (plenty of points for a page of text).
COARSE_STEP = 0.5
FINE_STEP = 0.05
SKEW_STRIDE = 2
__all__ = ["line_direction_scores", "median3", "otsu_threshold", "rotate", "sauvola_binarize", "threshold"]


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


def estimate_skew(gray: np.ndarray, max_skew: float) -> float:
    """Skew of the text lines in degrees; ``rotate(gray, angle)`` levels them."""
    ys, xs = kernels.dark_points(gray, kernels.otsu_threshold(gray), SKEW_STRIDE)
    if ys.size < 100:  # a blank page has no lines to level
        return 0.0
    h, w = (n // SKEW_STRIDE + 1 for n in gray.shape)
    coarse = kernels.best_angle(ys, xs, h, w, -max_skew, max_skew, COARSE_STEP)
    lo, hi = max(-max_skew, coarse - COARSE_STEP), min(max_skew, coarse + COARSE_STEP)
    return kernels.best_angle(ys, xs, h, w, lo, hi, FINE_STEP)
