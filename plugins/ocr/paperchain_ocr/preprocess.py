"""Page preprocessing before OCR: grayscale, denoise, deskew, orientation check, binarization.

Works on NumPy ``uint8`` arrays with the Numba kernels of :mod:`paperchain_ocr.kernels`, or with
their CuPy mirrors in :mod:`paperchain_ocr.gpu` when a GPU is present (``backend="auto"``).
"""

from __future__ import annotations

import importlib.util
from functools import cache

import numpy as np

from paperchain_sdk import ConfigError

# Turning a page by less than the skew search's resolution only blurs it.
SKEW_FINE_STEP = 0.05
# Turn a page by 180 degrees only on clear evidence: enough text lines, and little of their ink
# above the x-height (upright Latin text measures 0.6-0.9 on the shared scans, turned 0.1-0.3).
UPSIDE_DOWN_MIN_LINES = 5
UPSIDE_DOWN_BELOW = 0.4


@cache
def gpu_available() -> bool:
    """True when CuPy is installed and sees a CUDA device (never imports cupy otherwise)."""
    if importlib.util.find_spec("cupy") is None:
        return False
    import cupy

    return bool(cupy.is_available())


def backend_module(backend: str):
    """The module of kernels for ``backend`` (``auto``, ``cpu`` or ``gpu``)."""
    if backend == "gpu" or (backend == "auto" and gpu_available()):
        if not gpu_available():
            raise ConfigError(
                "backend = 'gpu' was asked for, but no CUDA device is visible to CuPy.",
                hint="install cupy-cuda12x (pip install 'paperchain-ocr[gpu]') on a machine with an NVIDIA GPU, "
                "or use backend = 'auto' or 'cpu'",
            )
        from . import gpu

        return gpu
    from . import cpu

    return cpu


def preprocess(image: np.ndarray, options, backend: str = "auto") -> tuple[np.ndarray, dict]:
    """Apply the steps ``options`` turns on; return the page (NumPy uint8) and what was done.

    ``options`` carries ``binarize`` (``otsu``, ``sauvola`` or ``none``), ``sauvola_window``,
    ``sauvola_k``, ``deskew``, ``max_skew``, ``denoise`` and ``orientation``.
    """
    ops = backend_module(backend)
    page = ops.asarray(image)
    report: dict = {"backend": ops.NAME}
    if page.ndim == 3 or options.binarize != "none" or options.deskew or options.denoise or options.orientation:
        page = ops.to_gray(page)
    if options.denoise:
        page = ops.median3(page)
        report["denoised"] = True
    if options.orientation:
        across, down = ops.line_directions(page, options.max_skew)
        report["lines"] = "vertical" if down > across else "horizontal"
        if down > across:
            page = ops.rotate90(page)
            report["rotated"] = 90
    if options.deskew:
        angle = ops.estimate_skew(page, options.max_skew)
        report["skew_degrees"] = round(float(angle), 3)
        if abs(angle) >= SKEW_FINE_STEP:
            page = ops.rotate(page, angle, 255)
    if options.orientation:  # after deskewing: level lines give the clearest profile
        share, lines = ops.upright_evidence(ops.threshold(page, ops.otsu_threshold(page)))
        report["ascender_share"] = round(float(share), 3)
        if lines >= UPSIDE_DOWN_MIN_LINES and share < UPSIDE_DOWN_BELOW:
            page = ops.rotate180(page)
            report["rotated"] = report.get("rotated", 0) + 180
    if options.binarize == "otsu":
        level = ops.otsu_threshold(page)
        page = ops.threshold(page, level)
        report["binarized"] = f"otsu (level {int(level)})"
    elif options.binarize == "sauvola":
        page = ops.sauvola_binarize(page, options.sauvola_window, options.sauvola_k, 127.5)
        report["binarized"] = f"sauvola (window {options.sauvola_window}, k {options.sauvola_k})"
    return ops.asnumpy(page), report
