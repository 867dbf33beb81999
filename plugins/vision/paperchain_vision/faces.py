"""``vision.faces``: frontal faces with scikit-image's trained LBP cascade (OpenCV's model)."""

from __future__ import annotations

import functools

import numpy as np
from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer
from PIL import Image

from .images import load_pages, to_gray


@functools.lru_cache(maxsize=1)
def _cascade():
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def detect_faces(image: Image.Image, options) -> list[dict]:
    """Boxes in the page's own pixels, largest first: ``{"x", "y", "width", "height"}``."""
    scale = min(1.0, options.max_side / max(image.size))
    gray = to_gray(image)
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        gray = np.asarray(Image.fromarray((gray * 255).astype(np.uint8)).resize(size, Image.Resampling.BOX)) / 255.0
    if min(gray.shape) < options.min_size:
        return []
    max_size = options.max_size or max(gray.shape)
    found = _cascade().detect_multi_scale(
        img=gray, scale_factor=options.scale_factor, step_ratio=options.step_ratio,
        min_size=(options.min_size, options.min_size), max_size=(max_size, max_size),
        min_neighbor_number=options.min_neighbor_number,
    )
    found = sorted(found, key=lambda f: -f["width"] * f["height"])  # largest (likeliest) first
    return [{"x": round(f["c"] / scale), "y": round(f["r"] / scale),
             "width": round(f["width"] / scale), "height": round(f["height"] / scale)} for f in found]


class FacesAnalyzer(Analyzer):
    def analyze(self, doc: Document, options) -> Findings:
        loaded = load_pages(doc, options)
        pages = [{"page": p.index + 1, "faces": detect_faces(p.image, options)} for p in loaded.pages]
        count = sum(len(p["faces"]) for p in pages)
        return Findings(data={"count": count, "pages": pages, "pages_total": loaded.total},
                        summary=f"{count} face(s)")
