"""Numba image kernels for quality measures and enhancement, each with a reference it is tested against.

- :func:`laplacian_variance`: variance of the 4-neighbour Laplacian (blur measure);
  reference ``scipy.ndimage.laplace(mode="reflect").var()``.
- :func:`noise_sigma`: Immerkær's fast noise estimate (a 3x3 mask of second differences);
  reference ``scipy.ndimage.convolve`` with the same mask on the interior.
- :func:`median_filter`: a sliding-histogram median on uint8 (reflected borders);
  reference ``scipy.ndimage.median_filter(mode="reflect")``.
- :func:`unsharp_mask`: separable gaussian (reflected borders, truncate 4) and the unsharp blend;
  reference ``skimage.filters.unsharp_mask``.
- :func:`skew_angle`: projection-profile search over angles; reference :func:`skew_scores_reference`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _laplacian_variance(g):
    h, w = g.shape
    total = 0.0
    total_sq = 0.0
    for y in range(h):
        up = max(y - 1, 0)  # one step past the edge reflects onto the edge pixel
        down = min(y + 1, h - 1)
        for x in range(w):
            left = max(x - 1, 0)
            right = min(x + 1, w - 1)
            v = g[up, x] + g[down, x] + g[y, left] + g[y, right] - 4.0 * g[y, x]
            total += v
            total_sq += v * v
    n = h * w
    mean = total / n
    return total_sq / n - mean * mean


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the Laplacian of ``gray`` (float, any scale); low means blurred.

    Borders as scipy's ``mode="reflect"`` (the edge pixel repeated).
    """
    return float(_laplacian_variance(np.ascontiguousarray(gray, dtype=np.float64)))


@njit(cache=True)
def _noise_sigma(g):
    h, w = g.shape
    total = 0.0
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            v = (g[y - 1, x - 1] - 2.0 * g[y - 1, x] + g[y - 1, x + 1]
                 - 2.0 * g[y, x - 1] + 4.0 * g[y, x] - 2.0 * g[y, x + 1]
                 + g[y + 1, x - 1] - 2.0 * g[y + 1, x] + g[y + 1, x + 1])
            total += abs(v)
    return total * math.sqrt(0.5 * math.pi) / (6.0 * (w - 2) * (h - 2))


def noise_sigma(gray: np.ndarray) -> float:
    """Standard deviation of additive noise in ``gray`` (Immerkær 1996); 0 for images under 3x3."""
    g = np.ascontiguousarray(gray, dtype=np.float64)
    if min(g.shape) < 3:
        return 0.0
    return float(_noise_sigma(g))


@njit(cache=True)
def _median_filter(padded, size, out):
    h, w = out.shape
    half = (size * size) // 2
    hist = np.zeros(256, np.int64)
    for y in range(h):
        hist[:] = 0
        for dy in range(size):
            for dx in range(size):
                hist[padded[y + dy, dx]] += 1
        med = 0
        below = 0  # pixels of the window under `med`
        while below + hist[med] <= half:
            below += hist[med]
            med += 1
        out[y, 0] = med
        for x in range(1, w):
            for dy in range(size):
                old = padded[y + dy, x - 1]
                new = padded[y + dy, x + size - 1]
                hist[old] -= 1
                if old < med:
                    below -= 1
                hist[new] += 1
                if new < med:
                    below += 1
            while below > half:
                med -= 1
                below -= hist[med]
            while below + hist[med] <= half:
                below += hist[med]
                med += 1
            out[y, x] = med


def median_filter(image: np.ndarray, size: int = 3) -> np.ndarray:
    """Median of each ``size`` x ``size`` window of a uint8 image (2-D, or per channel of 3-D)."""
    if size % 2 == 0 or size < 1:
        raise ValueError(f"size must be odd and positive, got {size}")
    if image.ndim == 3:
        return np.stack([median_filter(image[:, :, c], size) for c in range(image.shape[2])], axis=2)
    r = size // 2
    padded = np.pad(np.ascontiguousarray(image, dtype=np.uint8), r, mode="symmetric")
    out = np.empty(image.shape, np.uint8)
    _median_filter(padded, size, out)
    return out


def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


@njit(cache=True, inline="always")
def _reflect(i, n):
    # scipy's "reflect": d c b a | a b c d | d c b a, repeated for windows wider than the image
    period = 2 * n
    i = i % period
    return i if i < n else period - i - 1


@njit(cache=True)
def _blur_axis(src, weights, axis):
    h, w = src.shape
    r = weights.shape[0] // 2
    out = np.empty_like(src)
    for y in range(h):
        for x in range(w):
            acc = 0.0
            for i in range(-r, r + 1):
                if axis == 0:
                    yy = _reflect(y + i, h)
                    acc += weights[i + r] * src[yy, x]
                else:
                    xx = _reflect(x + i, w)
                    acc += weights[i + r] * src[y, xx]
            out[y, x] = acc
    return out


@njit(cache=True)
def _unsharp_blend(image, blurred, amount):
    out = np.empty_like(image)
    flat_i, flat_b, flat_o = image.ravel(), blurred.ravel(), out.ravel()
    for i in range(flat_i.size):
        v = flat_i[i] + amount * (flat_i[i] - flat_b[i])
        flat_o[i] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)
    return out


def unsharp_mask(image: np.ndarray, radius: float = 1.5, amount: float = 1.0) -> np.ndarray:
    """Sharpen a float image in [0, 1] (2-D, or per channel of 3-D): image + amount*(image - blur)."""
    if image.ndim == 3:
        return np.stack([unsharp_mask(image[:, :, c], radius, amount) for c in range(image.shape[2])], axis=2)
    g = np.ascontiguousarray(image, dtype=np.float64)
    weights = _gaussian_weights(radius)
    blurred = _blur_axis(_blur_axis(g, weights, 0), weights, 1)
    return _unsharp_blend(g, blurred, float(amount))


@njit(cache=True)
def _skew_scores(ys, xs, angles_deg, height, width):
    diag = int(math.sqrt(height * height + width * width)) + 2
    scores = np.zeros(angles_deg.shape[0], np.float64)
    bins = np.zeros(2 * diag + 1, np.float64)
    for a in range(angles_deg.shape[0]):
        t = angles_deg[a] * math.pi / 180.0
        c, s = math.cos(t), math.sin(t)
        bins[:] = 0.0
        for i in range(ys.shape[0]):
            b = int(math.floor(ys[i] * c + xs[i] * s + 0.5)) + diag
            bins[b] += 1.0
        acc = 0.0
        for b in range(bins.shape[0]):
            acc += bins[b] * bins[b]
        scores[a] = acc
    return scores


def skew_scores_reference(ys, xs, angles_deg, height, width) -> np.ndarray:
    diag = int(math.sqrt(height * height + width * width)) + 2
    scores = []
    for angle in angles_deg:
        t = math.radians(angle)
        bins = np.floor(ys * math.cos(t) + xs * math.sin(t) + 0.5).astype(np.int64) + diag
        scores.append(float((np.bincount(bins, minlength=2 * diag + 1).astype(np.float64) ** 2).sum()))
    return np.array(scores)


def skew_angle(gray: np.ndarray, max_skew: float = 15.0) -> float | None:
    """Angle (degrees, counter-clockwise positive) the text lines of ``gray`` (float in [0, 1]) are
    rotated by; None when there is too little ink to tell.

    Dark pixels (Otsu) are projected onto a rotated vertical axis; aligned lines give the
    sharpest profile (largest sum of squared bin counts). Coarse 0.5° steps, then 0.05°.
    """
    from skimage.filters import threshold_otsu

    if gray.size < 64 or float(gray.max()) - float(gray.min()) < 1e-3:
        return None
    ink = gray < threshold_otsu(gray)
    ys, xs = np.nonzero(ink)
    if ys.size < 50 or ys.size > 0.6 * gray.size:
        return None
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    h, w = gray.shape
    coarse = np.arange(-max_skew, max_skew + 1e-9, 0.5)
    best = coarse[int(np.argmax(_skew_scores(ys, xs, coarse, h, w)))]
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    return float(round(fine[int(np.argmax(_skew_scores(ys, xs, fine, h, w)))], 2))
