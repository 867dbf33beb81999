"""Pillow's LANCZOS downscale of an 8-bit image, reproduced bit for bit as Numba kernels.

The `imagehash` hashes are defined by Pillow's resampling: ``image.convert("L").resize(size,
LANCZOS)``. To give identical hashes faster, we do the same arithmetic Pillow's resampler does
(coefficients in double precision, normalised, rounded to 22-bit fixed point; one pass rounded to
uint8, then the other, in Pillow's order), but convert to grey once instead of three times, and
run the first pass of all three hashes' targets in one read of the image, summing only each output's
window of taps in vectorised float64 (exact: see below). ``tests/test_hashes.py`` proves equality
with Pillow on real and synthetic images of many sizes and modes.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import PIL
from numba import njit

PILLOW_MAJOR = int(PIL.__version__.split(".")[0])

PRECISION_BITS = 22  # Pillow: 32 bits minus 8 for the pixel minus 2 for the sign and overshoot
LANCZOS_SUPPORT = 3.0


@njit(cache=True)
def _lanczos(x):
    if -3.0 <= x < 3.0:
        a = 1.0 if x == 0.0 else math.sin(x * math.pi) / (x * math.pi)
        y = x / 3.0
        b = 1.0 if y == 0.0 else math.sin(y * math.pi) / (y * math.pi)
        return a * b
    return 0.0


@njit(cache=True)
def coefficients(in_size, out_size):
    """Per output pixel: first input index, tap count, and fixed-point weights (Pillow's rounding)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = LANCZOS_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.zeros((out_size, 2), np.int64)
    weights = np.zeros((out_size, ksize), np.int32)
    taps = np.zeros(ksize, np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        total = 0.0
        for x in range(xmax):
            w = _lanczos((x + xmin - center + 0.5) * ss)
            taps[x] = w
            total += w
        for x in range(xmax):
            w = taps[x] / total if total != 0.0 else taps[x]
            scaled = w * (1 << PRECISION_BITS)
            weights[xx, x] = int(-0.5 + scaled) if w < 0 else int(0.5 + scaled)
        bounds[xx, 0] = xmin
        bounds[xx, 1] = xmax
    return bounds, weights


@njit(cache=True, inline="always")
def _to_uint8(acc):
    """Pillow's rounding of a fixed-point sum to uint8 (``acc`` holds the exact integer sum)."""
    v = np.int64(acc) + (1 << (PRECISION_BITS - 1))
    if v >= (1 << PRECISION_BITS << 8):
        return 255
    return 0 if v <= 0 else v >> PRECISION_BITS


# The passes below sum in float64 with fastmath (so LLVM may reorder and vectorise the sums):
# every product is an 8-bit pixel times a 22-bit weight and every partial sum stays below 2**31
# in magnitude, so all of them are integers float64 holds exactly, in any order. The result is
# Pillow's integer arithmetic, bit for bit, in one thread (no BLAS, no float copy of the image).

ROW_BLOCK = 8  # rows summed together in the horizontal pass: each weight is loaded once for 8 rows


@njit(cache=True, fastmath=True)
def _horizontal_pass(gray, starts, counts, weights):
    """Every output column of every target at once, reading ``gray`` (uint8) once, 8 rows at a time."""
    h, w = gray.shape
    outs = starts.shape[0]
    out = np.empty((h, outs), np.uint8)
    rows = np.empty((ROW_BLOCK, w), np.float64)
    full = h - h % ROW_BLOCK
    for y0 in range(0, full, ROW_BLOCK):
        for i in range(ROW_BLOCK):
            for x in range(w):
                rows[i, x] = gray[y0 + i, x]
        for o in range(outs):
            st = starts[o]
            n = counts[o]
            # Views that start at the window: indexed by range() alone, so Numba adds no negative-
            # index wraparound to each load and LLVM sees plain contiguous loads (2.4x faster).
            k = weights[o, :n]
            r0 = rows[0, st:st + n]
            r1 = rows[1, st:st + n]
            r2 = rows[2, st:st + n]
            r3 = rows[3, st:st + n]
            r4 = rows[4, st:st + n]
            r5 = rows[5, st:st + n]
            r6 = rows[6, st:st + n]
            r7 = rows[7, st:st + n]
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
            for t in range(n):
                kt = k[t]
                s0 += kt * r0[t]
                s1 += kt * r1[t]
                s2 += kt * r2[t]
                s3 += kt * r3[t]
                s4 += kt * r4[t]
                s5 += kt * r5[t]
                s6 += kt * r6[t]
                s7 += kt * r7[t]
            out[y0, o] = _to_uint8(s0)
            out[y0 + 1, o] = _to_uint8(s1)
            out[y0 + 2, o] = _to_uint8(s2)
            out[y0 + 3, o] = _to_uint8(s3)
            out[y0 + 4, o] = _to_uint8(s4)
            out[y0 + 5, o] = _to_uint8(s5)
            out[y0 + 6, o] = _to_uint8(s6)
            out[y0 + 7, o] = _to_uint8(s7)
    for y in range(full, h):  # the last rows, one at a time
        for o in range(outs):
            n = counts[o]
            k = weights[o, :n]
            row = gray[y, starts[o]:starts[o] + n]
            s = 0.0
            for t in range(n):
                s += k[t] * row[t]
            out[y, o] = _to_uint8(s)
    return out


@njit(cache=True, fastmath=True)
def _vertical_pass(gray, starts, counts, weights):
    """Every output row of every target: a weighted sum of a window of input rows (uint8)."""
    w = gray.shape[1]
    outs = starts.shape[0]
    out = np.empty((outs, w), np.uint8)
    acc = np.empty(w, np.float64)
    for o in range(outs):
        acc[:] = 0.0
        st = starts[o]
        for t in range(counts[o]):
            k = weights[o, t]
            row = gray[st + t]  # a row view: the inner loop's index comes from range() alone
            for x in range(w):
                acc[x] += k * row[x]
        for x in range(w):
            out[o, x] = _to_uint8(acc[x])
    return out


@functools.lru_cache(maxsize=128)
def _taps(in_size: int, out_sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-point weights of several targets stacked: window starts, tap counts, weights (float64).

    Cached per (input size, targets): pages of a batch share sizes; callers never write to them.
    """
    tables = [coefficients(in_size, n) for n in out_sizes]
    width = max(weights.shape[1] for _, weights in tables)
    starts = np.concatenate([bounds[:, 0] for bounds, _ in tables])
    counts = np.concatenate([bounds[:, 1] for bounds, _ in tables])
    stacked = np.zeros((starts.size, width), np.float64)
    row = 0
    for _, weights in tables:
        stacked[row:row + len(weights), :weights.shape[1]] = weights
        row += len(weights)
    for array in (starts, counts, stacked):
        array.flags.writeable = False
    return starts, counts, stacked


def horizontal_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    """The pass order Pillow uses: from Pillow 13, vertical first when the height shrinks by more
    than twice as many pixels as the width does."""
    if PILLOW_MAJOR < 13:
        return True
    return not (in_h - out_h > 0 and in_h - out_h > (in_w - out_w) * 2)


def resize_many(pixels: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """``pixels`` resized as Pillow's ``image.convert("L").resize(size, LANCZOS)`` for each ``(width, height)``.

    ``pixels`` is Pillow's grey image as an (h, w) uint8 array. The first passes of all targets
    run together so the image is read once; second passes work on the small intermediate images.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape
    plan = []
    widths, heights = [], []
    for width, height in sizes:
        need_h, need_v = width != w, height != h
        first = "h" if need_h and (horizontal_first(w, h, width, height) or not need_v) else ("v" if need_v else None)
        plan.append((width, height, first, need_h, need_v))
        if first == "h" and width not in widths:
            widths.append(width)
        if first == "v" and height not in heights:
            heights.append(height)
    across = _horizontal_pass(pixels, *_taps(w, tuple(widths))) if widths else None
    down = _vertical_pass(pixels, *_taps(h, tuple(heights))) if heights else None
    results = []
    for width, height, first, need_h, need_v in plan:
        if first is None:  # same size: Pillow copies
            results.append(pixels.copy())
        elif first == "h":
            start = sum(widths[: widths.index(width)])
            image = np.ascontiguousarray(across[:, start:start + width])
            results.append(_vertical_pass(image, *_taps(h, (height,))) if need_v else image)
        else:
            start = sum(heights[: heights.index(height)])
            image = down[start:start + height]
            results.append(_horizontal_pass(image, *_taps(w, (width,))) if need_h else image.copy())
    return results


# -- the loop form of the passes, as Pillow writes them (int64 sums): the reference the fast passes are tested against


@njit(cache=True)
def _clip8(acc):
    if acc >= (1 << PRECISION_BITS << 8):
        return 255
    return 0 if acc <= 0 else acc >> PRECISION_BITS


@njit(cache=True)
def horizontal(gray, bounds, weights):
    h = gray.shape[0]
    out = np.empty((h, bounds.shape[0]), np.uint8)
    for y in range(h):
        for xx in range(bounds.shape[0]):
            acc = np.int64(1 << (PRECISION_BITS - 1))
            for x in range(bounds[xx, 1]):
                acc += np.int64(gray[y, bounds[xx, 0] + x]) * weights[xx, x]
            out[y, xx] = _clip8(acc)
    return out


@njit(cache=True)
def vertical(image, bounds, weights):
    w = image.shape[1]
    out = np.empty((bounds.shape[0], w), np.uint8)
    for yy in range(bounds.shape[0]):
        for x in range(w):
            acc = np.int64(1 << (PRECISION_BITS - 1))
            for y in range(bounds[yy, 1]):
                acc += np.int64(image[bounds[yy, 0] + y, x]) * weights[yy, y]
            out[yy, x] = _clip8(acc)
    return out
