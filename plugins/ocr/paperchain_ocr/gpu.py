"""The GPU backend of :mod:`paperchain_ocr.preprocess`: CuPy mirrors of the Numba kernels.

Same inputs, outputs and edge rules as :mod:`paperchain_ocr.kernels`; only imported when
``cupy.is_available()`` is true.
"""

from __future__ import annotations

import math

import cupy as cp

from .cpu import COARSE_STEP, FINE_STEP, SKEW_STRIDE

NAME = "cupy"


def asarray(image):
    return cp.ascontiguousarray(cp.asarray(image, dtype=cp.uint8))


def asnumpy(image):
    return cp.asnumpy(image)


def to_gray(image):
    if image.ndim == 2:
        return image
    rgb = image[..., :3].astype(cp.float64)
    luma = 0.2125 * rgb[..., 0] + 0.7154 * rgb[..., 1] + 0.0721 * rgb[..., 2]
    return cp.minimum(255.0, luma + 0.5).astype(cp.uint8)


def otsu_threshold(gray) -> int:
    hist = cp.bincount(gray.ravel(), minlength=256).astype(cp.float64)
    levels = cp.arange(256, dtype=cp.float64)
    present = cp.nonzero(hist)[0]
    lo, hi = int(present[0]), int(present[-1])
    if lo == hi:
        return lo
    w0 = cp.cumsum(hist)[lo:hi]
    s0 = cp.cumsum(hist * levels)[lo:hi]
    total, total_sum = hist.sum(), (hist * levels).sum()
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    diff = s0 / cp.where(valid, w0, 1) - (total_sum - s0) / cp.where(valid, w1, 1)
    between = cp.where(valid, w0 * w1 * diff * diff, -1.0)
    return lo + int(cp.argmax(between))


def threshold(gray, level):
    return cp.where(gray > level, 255, 0).astype(cp.uint8)


def _window_sums(values, half):
    # Window totals clipped at the borders, from an integral image (as the Numba kernel's).
    h, w = values.shape
    integral = cp.zeros((h + 1, w + 1), cp.int64)
    integral[1:, 1:] = values.cumsum(0).cumsum(1)
    ys, xs = cp.arange(h), cp.arange(w)
    y0, y1 = cp.maximum(ys - half, 0)[:, None], cp.minimum(ys + half + 1, h)[:, None]
    x0, x1 = cp.maximum(xs - half, 0)[None, :], cp.minimum(xs + half + 1, w)[None, :]
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return total, (y1 - y0) * (x1 - x0)


def sauvola_threshold(gray, window, k, r):
    values = gray.astype(cp.int64)
    total, n = _window_sums(values, window // 2)
    total_sq, _ = _window_sums(values * values, window // 2)
    mean = total / n
    var = total_sq / n - mean * mean
    std = cp.sqrt(cp.maximum(var, 0.0))
    return mean * (1.0 + k * (std / r - 1.0))


def sauvola_binarize(gray, window, k, r):
    return threshold(gray.astype(cp.float64) - sauvola_threshold(gray, window, k, r), 0.0)


def median3(gray):
    padded = cp.pad(gray, 1, mode="edge")
    h, w = gray.shape
    stack = cp.stack([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])
    return cp.sort(stack, axis=0)[4]


def rotate(gray, angle_deg, fill):
    h, w = gray.shape
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    dy, dx = cp.mgrid[0:h, 0:w].astype(cp.float64)
    dx -= cx
    dy -= cy
    sx = c * dx - s * dy + cx
    sy = s * dx + c * dy + cy
    x0, y0 = cp.floor(sx).astype(cp.int64), cp.floor(sy).astype(cp.int64)
    fx, fy = sx - x0, sy - y0

    def pixel(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        return cp.where(inside, gray[cp.clip(yy, 0, h - 1), cp.clip(xx, 0, w - 1)].astype(cp.float64), float(fill))

    top = pixel(y0, x0) + fx * (pixel(y0, x0 + 1) - pixel(y0, x0))
    bottom = pixel(y0 + 1, x0) + fx * (pixel(y0 + 1, x0 + 1) - pixel(y0 + 1, x0))
    value = top + fy * (bottom - top)
    return cp.clip(value + 0.5, 0.0, 255.0).astype(cp.uint8)


def rotate90(image):
    return cp.ascontiguousarray(cp.rot90(image, k=-1))


def rotate180(image):
    return cp.ascontiguousarray(image[::-1, ::-1])


def upright_evidence(binary):
    from .kernels import ascender_share

    rows = cp.asnumpy((binary == 0).sum(axis=1).astype(cp.int64))  # the profile is small: read on the host
    return ascender_share(rows, max(2, binary.shape[1] // 500))


def _best_angle(ys, xs, height, width, start, stop, step):
    n = int(math.floor((stop - start) / step + 0.5)) + 1
    best, best_a = -1.0, 0.0
    pad = width + 2
    for i in range(n):
        a = start + i * step
        rad = math.radians(a)
        rows = cp.floor(ys * math.cos(rad) - xs * math.sin(rad) + 0.5).astype(cp.int64) + pad
        hist = cp.bincount(rows, minlength=height + 2 * pad)
        score = float((cp.diff(hist).astype(cp.float64) ** 2).sum())
        if score > best:
            best, best_a = score, a
    return best_a, best


def line_directions(gray, max_skew: float) -> tuple[float, float]:
    grid = gray[::SKEW_STRIDE, ::SKEW_STRIDE]
    ys, xs = cp.nonzero(grid <= otsu_threshold(gray))
    if ys.size < 100:
        return 0.0, 0.0
    ys, xs = ys.astype(cp.float64), xs.astype(cp.float64)
    h, w = (n // SKEW_STRIDE + 1 for n in gray.shape)
    across = _best_angle(ys, xs, h, w, -max_skew, max_skew, COARSE_STEP)[1]
    down = _best_angle(xs, (h - 1) - ys, w, h, -max_skew, max_skew, COARSE_STEP)[1]
    return across / (w * w * max(h - 1, 1)), down / (h * h * max(w - 1, 1))


def estimate_skew(gray, max_skew: float) -> float:
    grid = gray[::SKEW_STRIDE, ::SKEW_STRIDE]
    ys, xs = cp.nonzero(grid <= otsu_threshold(gray))
    if ys.size < 100:
        return 0.0
    ys, xs = ys.astype(cp.float64), xs.astype(cp.float64)
    h, w = (n // SKEW_STRIDE + 1 for n in gray.shape)
    coarse = _best_angle(ys, xs, h, w, -max_skew, max_skew, COARSE_STEP)[0]
    lo, hi = max(-max_skew, coarse - COARSE_STEP), min(max_skew, coarse + COARSE_STEP)
    return _best_angle(ys, xs, h, w, lo, hi, FINE_STEP)[0]
