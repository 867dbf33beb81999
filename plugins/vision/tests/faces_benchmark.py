"""Measure ``vision.faces`` on the labelled set in ``data/faces.json`` and on scikit-image's LFW crops.

    python plugins/vision/tests/faces_benchmark.py [setting=value ...]

prints per-page counts and the totals (the settings override FacesSettings, to compare choices).
A detection is right when its box overlaps a labelled face by IoU >= 0.3 (each face matched once).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import numpy as np
from PIL import Image

from paperchain_sdk import Document
from paperchain_vision.faces import detect_faces
from paperchain_vision.images import load_pages
from paperchain_vision.settings import FacesSettings

HERE = Path(__file__).parent
LABELS = HERE / "data" / "faces.json"
SHARED = Path(os.environ.get("PAPERCHAIN_TESTDATA", "/work/shared/testdata")) / "documents"  # as conftest
MATCH_IOU = 0.3
LFW_UPSCALE = 3  # the 25x25 crops are barely above the cascade's 24-pixel window
HELD_OUT_FACES, HELD_OUT_OTHERS = slice(50, 100), slice(150, 200)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def load_page(source: str, page: int, shared: Path) -> Image.Image:
    where, name = source.split(":", 1)
    if where == "skimage":
        from skimage import data

        path = Path(data.__file__).parent / name
    else:
        path = (shared if where == "shared" else HERE / "data") / name
    pages = load_pages(Document.from_path(path), FacesSettings(max_pages=page)).pages
    return pages[page - 1].image


def score_page(found: list[dict], faces: list[list[int]]) -> tuple[int, int, int]:
    """(true positives, false positives, missed faces), greedy matching by IoU."""
    unmatched = list(faces)
    hits = 0
    for box in found:
        box = (box["x"], box["y"], box["width"], box["height"])
        best = max(unmatched, key=lambda face: iou(box, face), default=None)
        if best is not None and iou(box, best) >= MATCH_IOU:
            unmatched.remove(best)
            hits += 1
    return hits, len(found) - hits, len(unmatched)


def measure_pages(options: FacesSettings, shared: Path) -> dict:
    rows = []
    for entry in json.loads(LABELS.read_text())["pages"]:
        image = load_page(entry["source"], entry.get("page", 1), shared)
        found = detect_faces(image, options)
        tp, fp, fn = score_page(found, entry["faces"])
        rows.append({"source": entry["source"], "page": entry.get("page", 1), "labelled": len(entry["faces"]),
                     "found": len(found), "tp": tp, "fp": fp, "fn": fn, "frontal": entry.get("frontal", True)})
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    frontal = [r for r in rows if r["frontal"]]
    return {"rows": rows, "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "exact": sum(r["found"] == r["labelled"] for r in frontal), "frontal_pages": len(frontal)}


def measure_lfw(options: FacesSettings) -> dict:
    """scikit-image's LFW subset, the crops ``faceverify`` does not train on: 50 faces, 50 other things."""
    from skimage import data

    crops = data.lfw_subset()
    found = []
    for crop in [*crops[HELD_OUT_FACES], *crops[HELD_OUT_OTHERS]]:
        image = Image.fromarray((crop * 255).round().astype(np.uint8))
        image = image.resize((25 * LFW_UPSCALE,) * 2, Image.Resampling.BICUBIC)
        found.append(len(detect_faces(image, options)))
    faces, others = found[:50], found[50:]
    return {"faces_found": sum(n >= 1 for n in faces), "faces_exact": sum(n == 1 for n in faces),
            "others_with_a_face": sum(n >= 1 for n in others)}


def main(argv: list[str]) -> None:
    overrides = {}
    for arg in argv:
        key, value = arg.split("=", 1)
        overrides[key] = type(getattr(FacesSettings(), key))(float(value))  # all numbers
    options = attrs.evolve(FacesSettings(), **overrides)
    pages = measure_pages(options, SHARED)
    for r in pages["rows"]:
        print(f"{r['source']:34} p{r['page']}  labelled {r['labelled']}  found {r['found']}  fp {r['fp']}  missed {r['fn']}")
    print(f"pages: precision {pages['precision']:.2f} ({pages['tp']} right, {pages['fp']} false), "
          f"recall {pages['recall']:.2f} ({pages['fn']} missed), exact count on "
          f"{pages['exact']}/{pages['frontal_pages']} pages with frontal faces or none")
    lfw = measure_lfw(options)
    print(f"LFW crops: {lfw['faces_found']}/50 faces found ({lfw['faces_exact']} exactly once), "
          f"{lfw['others_with_a_face']}/50 non-face crops with a detection")


if __name__ == "__main__":
    main(sys.argv[1:])
