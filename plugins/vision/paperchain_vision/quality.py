"""``vision.quality``: blur, contrast, noise, skew and resolution of each page."""

from __future__ import annotations

import numpy as np
from PIL import Image

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .filters import laplacian_variance, noise_sigma, skew_angle
from .images import load_pages, to_gray

ANALYSIS_SIDE = 1600  # skew is measured on a copy no larger than this: enough for text lines


def page_quality(image: Image.Image, dpi: float | None, max_skew: float = 15.0) -> dict:
    gray = to_gray(image)
    g255 = gray * 255.0
    low, high = np.percentile(gray, [1, 99]) if gray.size else (0.0, 0.0)
    scale = min(1.0, ANALYSIS_SIDE / max(image.size))
    small = gray
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = np.asarray(Image.fromarray((gray * 255).astype(np.uint8)).resize(size, Image.Resampling.BOX)) / 255.0
    width, height = image.size
    return {
        "width": width,
        "height": height,
        "megapixels": round(width * height / 1e6, 3),
        "dpi": dpi,
        "size_inches": [round(width / dpi, 2), round(height / dpi, 2)] if dpi else None,
        "blur_laplacian_variance": round(laplacian_variance(g255), 2),
        "contrast_rms": round(float(gray.std()), 4),
        "dynamic_range": round(float(high - low), 4),
        "brightness": round(float(gray.mean()), 4),
        "noise_sigma": round(noise_sigma(g255), 3),
        "skew_degrees": skew_angle(small, max_skew),
    }


class QualityAnalyzer(Analyzer):
    def analyze(self, doc: Document, options) -> Findings:
        loaded = load_pages(doc, options)
        pages = [{"page": p.index + 1, **page_quality(p.image, p.dpi, options.max_skew)} for p in loaded.pages]
        first = pages[0]
        return Findings(
            data={"pages": pages, "pages_total": loaded.total},
            summary=(f"{first['width']}x{first['height']} px, blur {first['blur_laplacian_variance']}, "
                     f"skew {first['skew_degrees']}°"),
        )
