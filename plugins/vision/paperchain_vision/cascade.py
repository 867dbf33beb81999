"""scikit-image's trained LBP cascade (OpenCV's frontal-face model) and the merging of its boxes."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _cascade():
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def overlap(a, b) -> float:
    """Intersection over the smaller box's area, for ``(x, y, width, height)`` boxes."""
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / min(a[2] * a[3], b[2] * b[3])


def suppress_overlaps(boxes: list[tuple], max_overlap: float, scores: list[float] | None = None) -> list[tuple]:
    """Best first (highest score, else largest); a box overlapping a kept one by more than
    ``max_overlap`` (of the smaller one's area) goes."""
    order = scores if scores is not None else [b[2] * b[3] for b in boxes]
    kept: list[tuple] = []
    for _, box in sorted(zip(order, boxes), key=lambda pair: -pair[0]):
        if all(overlap(box, other) <= max_overlap for other in kept):
            kept.append(box)
    return kept


def candidate_boxes(gray: np.ndarray, *, scale_factor: float = 1.2, step_ratio: float = 1.0, min_size: int = 24,
                    max_size: int = 0, min_neighbor_number: int = 4) -> list[tuple]:
    """The cascade's boxes on ``gray`` (values 0-1) as ``(x, y, width, height)``; see FacesSettings."""
    max_size = max_size or max(gray.shape)
    found = _cascade().detect_multi_scale(
        img=gray, scale_factor=scale_factor, step_ratio=step_ratio, min_size=(min_size, min_size),
        max_size=(max_size, max_size), min_neighbor_number=min_neighbor_number,
    )
    return [(f["c"], f["r"], f["width"], f["height"]) for f in found]
