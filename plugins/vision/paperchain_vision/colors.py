"""``vision.colors``: the dominant colors of each page, by k-means on its pixels."""

from __future__ import annotations

import numpy as np

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .images import load_pages, to_rgb
from .kmeans import kmeans


def dominant_colors(rgb: np.ndarray, k: int, *, seed: int = 0, sample: int = 200_000, max_iter: int = 100,
                    tol: float = 1e-4) -> list[dict]:
    """The ``k`` cluster centers of ``rgb``'s pixels, largest share first."""
    pixels = rgb.reshape(-1, 3)
    if sample and pixels.shape[0] > sample:
        pick = np.random.default_rng(seed).choice(pixels.shape[0], size=sample, replace=False)
        pixels = pixels[np.sort(pick)]
    result = kmeans(pixels.astype(np.float64), k, seed=seed, max_iter=max_iter, tol=tol)
    counts = np.bincount(result.labels, minlength=len(result.centers))
    order = np.argsort(-counts, kind="stable")
    colors = []
    for c in order:
        if counts[c] == 0:
            continue
        r, g, b = (int(v) for v in np.clip(np.rint(result.centers[c]), 0, 255))
        colors.append({"hex": f"#{r:02x}{g:02x}{b:02x}", "rgb": [r, g, b], "share": round(float(counts[c] / counts.sum()), 4)})
    return colors


class ColorsAnalyzer(Analyzer):
    def analyze(self, doc: Document, options) -> Findings:
        loaded = load_pages(doc, options)
        pages = []
        for page in loaded.pages:
            colors = dominant_colors(to_rgb(page.image), options.k, seed=options.seed, sample=options.sample,
                                     max_iter=options.max_iter, tol=options.tol)
            pages.append({"page": page.index + 1, "colors": colors})
        top = pages[0]["colors"][0]["hex"] if pages and pages[0]["colors"] else "none"
        return Findings(
            data={"k": options.k, "pages": pages, "pages_total": loaded.total},
            summary=f"{len(pages)} page(s); main color {top}",
        )
