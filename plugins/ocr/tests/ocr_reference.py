"""Pure NumPy references for the kernels scikit-image has no function for (skew, line direction,
upside-down evidence, the ink's bounding box and runs)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

TESTDATA = Path(os.environ.get("PAPERCHAIN_TESTDATA", Path(__file__).resolve().parents[3].parent / "shared" / "testdata")) / "documents"


def projection_score(ys, xs, angle_deg, height, width):
    a = math.radians(angle_deg)
    rows = np.floor(ys * math.cos(a) - xs * math.sin(a) + 0.5).astype(np.int64) + width + 2
    hist = np.bincount(rows, minlength=height + 2 * (width + 2))
    return float((np.diff(hist).astype(np.float64) ** 2).sum())


def estimate_skew(gray, max_skew, level, stride=2, coarse=0.5, fine=0.05):
    grid = gray[::stride, ::stride]
    ys, xs = np.nonzero(grid <= level)
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    h, w = (n // stride + 1 for n in gray.shape)

    def best(start, stop, step):
        angles = [start + i * step for i in range(int(math.floor((stop - start) / step + 0.5)) + 1)]
        scores = [projection_score(ys, xs, a, h, w) for a in angles]
        return angles[int(np.argmax(scores))]

    c = best(-max_skew, max_skew, coarse)
    return best(max(-max_skew, c - coarse), min(max_skew, c + coarse), fine)


def line_directions(gray, max_skew, level, stride=2, step=0.5):
    """(across, down), each the best projection score within ``max_skew``, as fractions per bin."""
    grid = gray[::stride, ::stride]
    ys, xs = np.nonzero(grid <= level)
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    h, w = (n // stride + 1 for n in gray.shape)
    angles = [-max_skew + i * step for i in range(int(math.floor(2 * max_skew / step + 0.5)) + 1)]
    across = max(projection_score(ys, xs, a, h, w) for a in angles)
    down = max(projection_score(xs, (h - 1) - ys, a, w, h) for a in angles)
    return across / (w * w * max(h - 1, 1)), down / (h * h * max(w - 1, 1))


def ascender_share(binary, floor):
    """The upside-down evidence in plain NumPy: text lines as runs of rows with ink, the x-height
    band as the rows with at least 40% of the line's peak, and the ink above vs below it."""
    rows = (binary == 0).sum(axis=1)
    above = below = lines = 0
    inked = np.concatenate([[False], rows > floor, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start < 6:
            continue
        line = rows[start:stop]
        band = np.flatnonzero(line * 10 >= line.max() * 4)
        above += int(line[:band[0]].sum())
        below += int(line[band[-1] + 1:].sum())
        lines += 1
    return (above / (above + below) if above + below else 0.5), lines


def ink_box(gray, level):
    """Half-open (top, bottom, left, right) of the pixels <= level; zeros when there are none."""
    rows, cols = np.nonzero(gray <= level)
    if rows.size == 0:
        return 0, 0, 0, 0
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def ink_runs(gray, level):
    ink = gray <= level
    return int(ink[:, 0].sum() + (ink[:, 1:] & ~ink[:, :-1]).sum())
