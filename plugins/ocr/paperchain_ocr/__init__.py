"""Paperchain OCR: tesseract recognition with searchable PDFs, and Numba page preprocessing.

This module is what the ``paperchain`` entry point loads, so it stays light: implementations
are named by import string, and pytesseract, pypdfium2, NumPy, Numba and CuPy load only when a
step runs.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, hookimpl

from .settings import PreprocessSettings, RecognizeSettings

__version__ = "0.1.0"


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(
            name="ocr.recognize",
            impl="paperchain_ocr.recognize:Recognize",
            summary="OCR images and scanned PDFs with tesseract: text, word confidences, hOCR/TSV, searchable PDF",
            settings=RecognizeSettings,
            cpu_bound=True,
            deterministic=True,
        ),
        ActionSpec(
            name="ocr.preprocess",
            impl="paperchain_ocr.preprocess_action:Preprocess",
            summary="Grayscale, denoise, deskew and binarize (Otsu/Sauvola) pages into a new image",
            settings=PreprocessSettings,
            cpu_bound=True,
            deterministic=True,
        ),
    ]
