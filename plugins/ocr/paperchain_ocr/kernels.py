"""Numba kernels for page preprocessing, on 2-D ``uint8`` NumPy arrays (0 = black, 255 = white).

Every kernel is ``nogil`` so pages preprocessed from several threads run in parallel, and
``cache=True`` so a new process loads the compiled code from ``__pycache__`` instead of
compiling again. :mod:`paperchain_ocr.gpu` mirrors each one with CuPy; the tests hold each
against scikit-image or a NumPy reference.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# scikit-image's rgb2gray weights (ITU-R BT.709 luma), so results compare one to one.
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


@njit(cache=True, nogil=True)
def grayscale(rgb):
    """``(h, w, 3)`` uint8 RGB -> ``(h, w)`` uint8 luma, rounded to the nearest level."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w), np.uint8)
    # One flat loop over contiguous memory vectorizes; the weights sum to 1, so v + 0.5 < 256.
    flat_in = np.ascontiguousarray(rgb).reshape(h * w * 3)
    flat_out = out.reshape(h * w)
    for i in range(h * w):
        j = 3 * i
        v = 0.2125 * flat_in[j] + 0.7154 * flat_in[j + 1] + 0.0721 * flat_in[j + 2]
        flat_out[i] = np.uint8(min(255.0, v + 0.5))
    return out


@njit(cache=True, nogil=True)
def grayscale_bgr(bgr):
    """``(h, w, 3 or 4)`` uint8 BGR or BGRA (PDFium's pixel layouts; alpha not premultiplied) ->
    ``(h, w)`` luma with the weights of :func:`grayscale`, BGRA composited onto white."""
    h, w, c = bgr.shape
    out = np.empty((h, w), np.uint8)
    flat_in = np.ascontiguousarray(bgr).reshape(h * w * c)
    flat_out = out.reshape(h * w)
    if c == 3:  # a constant stride in each loop, so both vectorize
        for i in range(h * w):
            j = 3 * i
            v = 0.0721 * flat_in[j] + 0.7154 * flat_in[j + 1] + 0.2125 * flat_in[j + 2]
            flat_out[i] = np.uint8(min(255.0, v + 0.5))
    else:
        for i in range(h * w):
            j = 4 * i
            v = 0.0721 * flat_in[j] + 0.7154 * flat_in[j + 1] + 0.2125 * flat_in[j + 2]
            v = 255.0 - (255.0 - v) * (flat_in[j + 3] / 255.0)
            flat_out[i] = np.uint8(min(255.0, v + 0.5))
    return out


@njit(cache=True, nogil=True)
def histogram(gray):
    # Four partial histograms: a page is mostly one level (white), and increments of the same
    # counter in a row wait on each other; interleaving four counters breaks that chain.
    flat = np.ascontiguousarray(gray).reshape(gray.size)
    parts = np.zeros((4, 256), np.int64)
    n = flat.size
    stop = n - n % 4
    for i in range(0, stop, 4):
        parts[0, flat[i]] += 1
        parts[1, flat[i + 1]] += 1
        parts[2, flat[i + 2]] += 1
        parts[3, flat[i + 3]] += 1
    for i in range(stop, n):
        parts[0, flat[i]] += 1
    hist = np.zeros(256, np.int64)
    for v in range(256):
        hist[v] = parts[0, v] + parts[1, v] + parts[2, v] + parts[3, v]
    return hist


@njit(cache=True, nogil=True)
def otsu_threshold(gray):
    """Otsu's threshold: the level t maximising between-class variance; foreground is ``gray > t``.

    Ties go to the lowest level, as in scikit-image's ``threshold_otsu``.
    """
    hist = histogram(gray)
    lo, hi = 0, 255
    while hist[lo] == 0:
        lo += 1
    while hist[hi] == 0:
        hi -= 1
    if lo == hi:
        return lo
    total = 0.0
    total_sum = 0.0
    for v in range(lo, hi + 1):
        total += hist[v]
        total_sum += v * hist[v]
    best, best_t = -1.0, lo
    w0, s0 = 0.0, 0.0
    for t in range(lo, hi):
        w0 += hist[t]
        s0 += t * hist[t]
        w1 = total - w0
        if w0 == 0.0 or w1 == 0.0:
            continue
        diff = s0 / w0 - (total_sum - s0) / w1
        between = w0 * w1 * diff * diff
        if between > best:
            best, best_t = between, t
    return best_t


@njit(cache=True, nogil=True)
def threshold(gray, level):
    """0/255 image: white where ``gray > level``."""
    out = np.empty(gray.shape, np.uint8)
    flat_in = np.ascontiguousarray(gray).reshape(gray.size)
    flat_out = out.reshape(gray.size)
    for i in range(flat_in.size):
        flat_out[i] = 255 if flat_in[i] > level else 0
    return out


@njit(cache=True, nogil=True)
def _sauvola(gray, window, k, r, thresholds, binary, want_binary):
    # Column sums of the rows in the window slide down the page; a prefix sum along each row
    # then gives every window's total in O(1). Exact int64 sums, and memory of a few rows only.
    h, w = gray.shape
    half = window // 2
    col = np.zeros(w, np.int64)
    col_sq = np.zeros(w, np.int64)
    pre = np.zeros(w + 1, np.int64)
    pre_sq = np.zeros(w + 1, np.int64)
    for y in range(min(half, h)):
        for x in range(w):
            v = np.int64(gray[y, x])
            col[x] += v
            col_sq[x] += v * v
    for y in range(h):
        add, drop = y + half, y - half - 1
        if add < h:
            for x in range(w):
                v = np.int64(gray[add, x])
                col[x] += v
                col_sq[x] += v * v
        if drop >= 0:
            for x in range(w):
                v = np.int64(gray[drop, x])
                col[x] -= v
                col_sq[x] -= v * v
        for x in range(w):
            pre[x + 1] = pre[x] + col[x]
            pre_sq[x + 1] = pre_sq[x] + col_sq[x]
        rows = min(h, y + half + 1) - max(0, y - half)
        for x in range(w):
            x0 = max(0, x - half)
            x1 = min(w, x + half + 1)
            n = rows * (x1 - x0)
            mean = (pre[x1] - pre[x0]) / n
            var = (pre_sq[x1] - pre_sq[x0]) / n - mean * mean
            std = math.sqrt(var) if var > 0.0 else 0.0
            t = mean * (1.0 + k * (std / r - 1.0))
            if want_binary:
                binary[y, x] = 255 if gray[y, x] > t else 0
            else:
                thresholds[y, x] = t


@njit(cache=True, nogil=True)
def sauvola_threshold(gray, window, k, r):
    """Sauvola's local thresholds ``mean * (1 + k * (std / r - 1))`` over a ``window`` square.

    At the borders the window is clipped to the image (scikit-image reflects the image instead),
    so the two agree wherever the window fits inside the page.
    """
    out = np.empty(gray.shape, np.float64)
    _sauvola(gray, window, k, r, out, np.empty((1, 1), np.uint8), False)
    return out


@njit(cache=True, nogil=True)
def sauvola_binarize(gray, window, k, r):
    """0/255 image: white where ``gray`` is above its Sauvola threshold (no float image kept)."""
    out = np.empty(gray.shape, np.uint8)
    _sauvola(gray, window, k, r, np.empty((1, 1), np.float64), out, True)
    return out


@njit(cache=True, nogil=True, inline="always")
def _sort3(a, b, c):
    lo, hi = min(a, b), max(a, b)
    return min(lo, c), max(lo, min(hi, c)), max(hi, c)


@njit(cache=True, nogil=True)
def median3(gray):
    """3x3 median filter; edges repeat the nearest pixel (scipy's ``mode='nearest'``).

    Each column of three is sorted once and shared by the three windows that hold it; the median
    of nine is then the median of (largest low, median of middles, smallest high).
    """
    h, w = gray.shape
    out = np.empty_like(gray)
    lo = np.empty(w, np.uint8)
    mid = np.empty(w, np.uint8)
    hi = np.empty(w, np.uint8)
    for y in range(h):
        up, down = max(y - 1, 0), min(y + 1, h - 1)
        for x in range(w):
            lo[x], mid[x], hi[x] = _sort3(gray[up, x], gray[y, x], gray[down, x])
        for x in range(w):
            left, right = max(x - 1, 0), min(x + 1, w - 1)
            a = max(max(lo[left], lo[x]), lo[right])
            b = _sort3(mid[left], mid[x], mid[right])[1]
            c = min(min(hi[left], hi[x]), hi[right])
            out[y, x] = _sort3(a, b, c)[1]
    return out


@njit(cache=True, nogil=True)
def dark_points(gray, level, stride):
    """Grid coordinates (rows, cols) of pixels darker than ``level``, sampling every ``stride``-th.

    Coordinates count grid steps, not pixels, so projections of the sample have no empty rows
    in between (which would swamp the score at 0 degrees).
    """
    h, w = gray.shape
    count = 0
    for y in range(0, h, stride):
        for x in range(0, w, stride):
            if gray[y, x] <= level:
                count += 1
    ys = np.empty(count, np.float64)
    xs = np.empty(count, np.float64)
    i = 0
    for y in range(0, h, stride):
        for x in range(0, w, stride):
            if gray[y, x] <= level:
                ys[i] = y // stride
                xs[i] = x // stride
                i += 1
    return ys, xs


@njit(cache=True, nogil=True)
def projection_score(ys, xs, angle_deg, height, width):
    """How sharply dark points fall into rows once the page is turned by ``angle_deg``.

    The sum of squared differences between neighbouring row counts: text lines that run level
    give tall, narrow peaks and the largest score.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    pad = width + 2
    hist = np.zeros(height + 2 * pad, np.int64)
    for i in range(ys.shape[0]):
        row = int(math.floor(ys[i] * c - xs[i] * s + 0.5)) + pad
        hist[row] += 1
    score = 0.0
    for i in range(hist.shape[0] - 1):
        d = float(hist[i + 1] - hist[i])
        score += d * d
    return score


@njit(cache=True, nogil=True)
def best_angle(ys, xs, height, width, start, stop, step):
    """The angle in ``[start, stop]`` (``step`` apart) with the highest projection score."""
    n = int(math.floor((stop - start) / step + 0.5)) + 1
    best, best_a = -1.0, 0.0
    for i in range(n):
        a = start + i * step
        score = projection_score(ys, xs, a, height, width)
        if score > best:
            best, best_a = score, a
    return best_a


@njit(cache=True, nogil=True, inline="always")
def _inside(start, step, low, high, n):
    """The range [a, b) of x in [0, n) where ``low <= start + step * x <= high``."""
    if step == 0.0:
        return (0, n) if low <= start <= high else (0, 0)
    lo, hi = (low - start) / step, (high - start) / step
    if step < 0.0:
        lo, hi = hi, lo
    # A tiny step (sin of 180 degrees is 1e-16) puts the bounds beyond what an int holds.
    lo, hi = min(max(lo, -1.0), n + 1.0), min(max(hi, -1.0), n + 1.0)
    a = max(0, int(math.ceil(lo)))
    b = min(n, int(math.floor(hi)) + 1)
    return a, max(a, b)


@njit(cache=True, nogil=True, inline="always")
def _bilinear(gray, sx, sy, fill):
    """Bilinear sample at (sx, sy); neighbours outside the page read ``fill``."""
    x0 = int(math.floor(sx))
    y0 = int(math.floor(sy))
    fx = sx - x0
    fy = sy - y0
    v00 = _pixel(gray, y0, x0, fill)
    v01 = _pixel(gray, y0, x0 + 1, fill)
    v10 = _pixel(gray, y0 + 1, x0, fill)
    v11 = _pixel(gray, y0 + 1, x0 + 1, fill)
    top = v00 + fx * (v01 - v00)
    bottom = v10 + fx * (v11 - v10)
    return top + fy * (bottom - top)


# Fixed point for the interior: positions with 32 fraction bits (stepping along a row of a few
# thousand pixels drifts far below a pixel), weights with 16 (errors below 0.01 of a level).
_ONE = 4294967296.0
_HALF = np.int64(1) << 31


@njit(cache=True, nogil=True)
def _interior_row(flat, w, sx, sy, dx, dy, out_flat, start, count):
    """``count`` output pixels from ``out_flat[start]`` on, sampling from (sx, sy) in steps of
    (dx, dy); every neighbour is inside the page, so no checks, no clamping, no float rounding."""
    px = np.int64(round(sx * _ONE))
    py = np.int64(round(sy * _ONE))
    step_x = np.int64(round(dx * _ONE))
    step_y = np.int64(round(dy * _ONE))
    uw = np.uint64(w)
    one = np.uint64(1)
    for i in range(count):
        fx = (px >> 16) & 0xFFFF
        fy = (py >> 16) & 0xFFFF
        r0 = np.uint64(py >> 32) * uw + np.uint64(px >> 32)  # unsigned: no wraparound checks
        v00 = np.int64(flat[r0])
        v01 = np.int64(flat[r0 + one])
        v10 = np.int64(flat[r0 + uw])
        v11 = np.int64(flat[r0 + uw + one])
        top = (v00 << 16) + fx * (v01 - v00)
        bottom = (v10 << 16) + fx * (v11 - v10)
        out_flat[start + i] = np.uint8(((top << 16) + fy * (bottom - top) + _HALF) >> 32)
        px += step_x
        py += step_y


@njit(cache=True, nogil=True)
def rotate(gray, angle_deg, fill):
    """Turn the image ``angle_deg`` counter-clockwise about its centre, bilinear, same size.

    Samples outside the page read ``fill``; the geometry is scikit-image's ``rotate`` (centre at
    ``((w - 1) / 2, (h - 1) / 2)``, ``order=1``).
    """
    h, w = gray.shape
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    out = np.empty_like(gray)
    flat = np.ascontiguousarray(gray).reshape(h * w)
    out_flat = out.reshape(h * w)
    for y in range(h):
        # Along a row the source point moves by (c, s) per pixel: sx = sx0 + c*x, sy = sy0 + s*x.
        dy = y - cy
        sx0 = -c * cx - s * dy + cx
        sy0 = -s * cx + c * dy + cy
        # Interior: all four neighbours inside the page, with a pixel of margin against rounding,
        # so its pixels need no bounds checks (and stay in 0..255 without clamping).
        ax, bx = _inside(sx0, c, 1.0, w - 2.0, w)
        ay, by = _inside(sy0, s, 1.0, h - 2.0, w)
        # Touching: some neighbour may be inside; beyond that span every sample reads ``fill``.
        tx, ux = _inside(sx0, c, -1.0, w + 0.0, w)
        ty, uy = _inside(sy0, s, -1.0, h + 0.0, w)
        touch_lo, touch_hi = max(tx, ty), max(max(tx, ty), min(ux, uy))
        lo, hi = max(ax, ay), min(bx, by)
        if hi < lo:
            lo = hi = touch_lo
        out[y, :touch_lo] = fill
        for x in range(touch_lo, lo):
            v = _bilinear(gray, sx0 + c * x, sy0 + s * x, fill)
            out[y, x] = np.uint8(min(255.0, max(0.0, v + 0.5)))
        if hi > lo:
            _interior_row(flat, w, sx0 + c * lo, sy0 + s * lo, c, s, out_flat, y * w + lo, hi - lo)
        for x in range(hi, touch_hi):
            v = _bilinear(gray, sx0 + c * x, sy0 + s * x, fill)
            out[y, x] = np.uint8(min(255.0, max(0.0, v + 0.5)))
        out[y, max(hi, touch_hi):] = fill
    return out


@njit(cache=True, nogil=True, inline="always")
def _pixel(gray, y, x, fill):
    if 0 <= y < gray.shape[0] and 0 <= x < gray.shape[1]:
        return float(gray[y, x])
    return float(fill)


@njit(cache=True)
def dark_rows(binary):
    """Dark pixels (value 0) in each row of a binary page."""
    h, w = binary.shape
    rows = np.zeros(h, np.int64)
    for y in range(h):
        line = binary[y]
        count = 0
        for x in range(w):
            count += line[x] == 0
        rows[y] = count
    return rows


@njit(cache=True)
def ascender_share(rows, floor):
    """(share, lines): of the ink outside the x-height band of each text line, the part above it.

    A text line is a run of rows with more than ``floor`` dark pixels; its x-height band is the
    rows holding at least 40% of the line's densest row. Latin text has far more ascenders
    (b d f h k l t, capitals, digits) than descenders (g j p q y), so the share is well above
    one half on an upright page and well below it on a page turned upside down."""
    h = rows.shape[0]
    above = 0
    below = 0
    lines = 0
    y = 0
    while y < h:
        if rows[y] <= floor:
            y += 1
            continue
        start = y
        while y < h and rows[y] > floor:
            y += 1
        if y - start < 6:  # specks and rules, not lines of text
            continue
        line = rows[start:y]
        peak = line.max()
        top = -1
        bottom = -1
        for i in range(line.shape[0]):
            if line[i] * 10 >= peak * 4:
                if top < 0:
                    top = i
                bottom = i
        for i in range(top):
            above += line[i]
        for i in range(bottom + 1, line.shape[0]):
            below += line[i]
        lines += 1
    outside = above + below
    return (above / outside if outside else 0.5), lines


@njit(cache=True, nogil=True)
def ink_box(gray, level):
    """``(top, bottom, left, right)``, half-open, of the pixels at or below ``level``; all zeros
    on a page without any. Rows are tested by their minimum (a reduction LLVM vectorizes); only
    the rows between the first and last inked one are scanned for the side bounds, each from its
    end inwards and no further than the bound found so far."""
    h, w = gray.shape
    top = 0
    while top < h and gray[top].min() > level:
        top += 1
    if top == h:
        return 0, 0, 0, 0
    bottom = h
    while gray[bottom - 1].min() > level:
        bottom -= 1
    left = w
    right = 0
    for y in range(top, bottom):
        row = gray[y]
        for x in range(left):
            if row[x] <= level:
                left = x
                break
        for x in range(w - 1, right - 1, -1):
            if row[x] <= level:
                right = x + 1
                break
    return top, bottom, left, right


@njit(cache=True, nogil=True)
def ink_runs(gray, level):
    """Runs of pixels at or below ``level`` along the rows (each row's first pixel compared with
    its neighbour like the others, so the loop has no branch and vectorizes)."""
    h, w = gray.shape
    runs = 0
    for y in range(h):
        row = gray[y]
        runs += row[0] <= level
        for x in range(1, w):
            runs += (row[x] <= level) & (row[x - 1] > level)
    return runs
