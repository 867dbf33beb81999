"""``vision.faces``: frontal faces with scikit-image's trained LBP cascade (OpenCV's model), checked twice.

The cascade alone fires on face-like blobs: on scikit-image's astronaut photo it finds her face
and also the highlight on her helmet visor and the shuttle model. Each of its boxes is therefore
(1) scored by a second model that looks at the box's HOG descriptor (``faceverify``), (2) on
pages with real colour, required to hold some skin-coloured pixels, and (3) of boxes that overlap,
only the best scored stays. ``tests/faces_benchmark.py`` measures this on a labelled set.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .cascade import candidate_boxes, suppress_overlaps
from .faceverify import face_scores
from .images import load_pages, to_gray, to_rgb

# Below this spread of chroma the page is grey or one tint (a sepia scan): colour tells nothing.
MONOCHROME_CHROMA_STD = 4.0


def _chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ITU-R BT.601 Cb and Cr (0-255) of an (h, w, 3) uint8 array."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b


def skin_share(cb: np.ndarray, cr: np.ndarray, box: tuple) -> float:
    """Share of the box's central half whose chroma is in Chai and Ngan's skin range (Cb 77-127, Cr
    133-173), a range that holds for light and dark skin alike since it ignores brightness."""
    x, y, w, h = box
    inner = (slice(y + h // 4, y + h - h // 4), slice(x + w // 4, x + w - w // 4))
    cb, cr = cb[inner], cr[inner]
    return float(np.mean((cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173))) if cb.size else 0.0


def _scaled(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    scale = min(1.0, max_side / max(image.size))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return Image.fromarray(to_rgb(image)).resize(size, Image.Resampling.BOX), scale


def detect_faces(image: Image.Image, options) -> list[dict]:
    """Boxes in the page's own pixels, largest first: ``{"x", "y", "width", "height"}``."""
    small, scale = _scaled(image, options.max_side)
    gray = to_gray(small)
    if min(gray.shape) < options.min_size:
        return []
    boxes = candidate_boxes(
        gray, scale_factor=options.scale_factor, step_ratio=options.step_ratio, min_size=options.min_size,
        max_size=options.max_size, min_neighbor_number=options.min_neighbor_number,
    )
    scores = face_scores(gray, boxes) if options.min_face_score > 0 else [1.0] * len(boxes)
    kept = [(b, p) for b, p in zip(boxes, scores) if p >= options.min_face_score]
    if kept and options.min_skin_share > 0:
        cb, cr = _chroma(to_rgb(small))
        if max(cb.std(), cr.std()) >= MONOCHROME_CHROMA_STD:
            kept = [(b, p) for b, p in kept if skin_share(cb, cr, b) >= options.min_skin_share]
    boxes = suppress_overlaps([b for b, _ in kept], options.max_overlap, [p for _, p in kept])
    boxes.sort(key=lambda b: -b[2] * b[3])  # largest (likeliest) first
    return [{"x": round(x / scale), "y": round(y / scale), "width": round(w / scale), "height": round(h / scale)}
            for x, y, w, h in boxes]


class FacesAnalyzer(Analyzer):
    def analyze(self, doc: Document, options) -> Findings:
        loaded = load_pages(doc, options)
        pages = [{"page": p.index + 1, "faces": detect_faces(p.image, options)} for p in loaded.pages]
        count = sum(len(p["faces"]) for p in pages)
        return Findings(data={"count": count, "pages": pages, "pages_total": loaded.total},
                        summary=f"{count} face(s)")
