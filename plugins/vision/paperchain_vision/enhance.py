"""``vision.enhance``: contrast stretch, denoise, sharpen and deskew; one PNG artifact per page."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from paperchain_sdk import Artifact, InputError, Result, RunContext
from paperchain_sdk.contracts import Action

from .filters import median_filter, skew_angle, unsharp_mask
from .gpu import use_gpu
from .images import load_pages, to_rgb


def contrast_stretch(rgb: np.ndarray, clip_percent: float = 1.0) -> np.ndarray:
    """Map the ``clip_percent`` darkest/brightest luminance levels to 0/255, linearly between
    (the same mapping on every channel, so colors keep their balance)."""
    luminance = rgb.mean(axis=2) if rgb.ndim == 3 else rgb
    low, high = np.percentile(luminance, [clip_percent, 100 - clip_percent])
    if high - low < 1:
        return rgb.copy()
    levels = np.arange(256, dtype=np.float64)
    table = np.clip(np.rint((levels - low) * 255.0 / (high - low)), 0, 255).astype(np.uint8)
    return table[rgb]


def deskew(rgb: np.ndarray, max_skew: float) -> tuple[np.ndarray, float | None]:
    """Rotate so text lines are level; returns the image and the angle it was skewed by."""
    gray = rgb.mean(axis=2) / 255.0
    angle = skew_angle(gray, max_skew)
    if angle is None or abs(angle) < 0.05:
        return rgb, angle
    image = Image.fromarray(rgb).rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    return np.asarray(image), angle


def enhance(rgb: np.ndarray, options, backend: str = "auto") -> tuple[np.ndarray, dict]:
    gpu = use_gpu(backend)
    notes: dict = {}
    for op in options.operations:
        if op == "contrast":
            rgb = contrast_stretch(rgb, options.clip_percent)
        elif op == "denoise":
            if gpu:
                from .gpu import median_filter_cupy

                rgb = np.stack([median_filter_cupy(rgb[:, :, c], options.denoise_size) for c in range(3)], axis=2)
            else:
                rgb = median_filter(rgb, options.denoise_size)
        elif op == "sharpen":
            as_float = rgb.astype(np.float64) / 255.0
            if gpu:
                from .gpu import unsharp_cupy

                sharp = np.stack([unsharp_cupy(as_float[:, :, c], options.sharpen_radius, options.sharpen_amount)
                                  for c in range(3)], axis=2)
            else:
                sharp = unsharp_mask(as_float, options.sharpen_radius, options.sharpen_amount)
            rgb = np.rint(sharp * 255.0).astype(np.uint8)
        elif op == "deskew":
            rgb, angle = deskew(rgb, options.max_skew)
            notes["skew_degrees"] = angle
    return rgb, notes


class EnhanceAction(Action):
    def run(self, ctx: RunContext, inputs) -> Result:
        doc = ctx.document
        if doc is None:
            raise InputError("vision.enhance needs a document to work on.", hint="run the workflow over image or PDF files")
        if inputs.denoise_size % 2 == 0:
            raise InputError(f"denoise_size must be odd, got {inputs.denoise_size}.", hint="use 3, 5, 7 …")
        loaded = load_pages(doc, inputs)
        artifacts, pages = [], []
        for page in loaded.pages:
            out, notes = enhance(to_rgb(page.image), inputs)
            buffer = io.BytesIO()
            info = {"dpi": (page.dpi, page.dpi)} if page.dpi else {}
            Image.fromarray(out).save(buffer, format="PNG", **info)
            suffix = f"-p{page.index + 1}" if len(loaded.pages) > 1 or page.source == "pdf" else ""
            name = f"{doc.stem}{suffix}-enhanced.png"
            artifacts.append(Artifact(name=name, media_type="image/png", data=buffer.getvalue(),
                                      metadata={"page": page.index + 1, "operations": list(inputs.operations), **notes}))
            pages.append({"page": page.index + 1, "artifact": name, "width": out.shape[1], "height": out.shape[0], **notes})
        return Result(outputs={"operations": list(inputs.operations), "pages": pages}, artifacts=artifacts)
