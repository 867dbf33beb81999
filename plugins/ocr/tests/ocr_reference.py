"""Pure NumPy references for the kernels scikit-image has no function for (skew, line direction)."""

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


def line_direction_scores(binary):
    dark = binary == 0
    h, w = binary.shape
    rows = dark.sum(axis=1) / w
    cols = dark.sum(axis=0) / h
    return float((np.diff(rows) ** 2).sum() / max(h - 1, 1)), float((np.diff(cols) ** 2).sum() / max(w - 1, 1))
