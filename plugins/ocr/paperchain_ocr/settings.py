"""Options of the OCR actions: light attrs classes, so listing plugins imports nothing heavy.

Every field has a default. Validators raise ValueError saying what was wrong and what is
allowed; the SDK turns that into a ConfigError naming the step. Languages are checked against
the installed tesseract when the step runs (that needs the binary).
"""

from __future__ import annotations

import re

import attrs

from paperchain_sdk.settings import between, one_of

BINARIZE_METHODS = ("none", "otsu", "sauvola")
BACKENDS = ("auto", "cpu", "gpu")
OUTPUTS = ("pdf", "hocr", "tsv")
_LANGS = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
# PIL's own decompression-bomb limit (89.5 megapixels): a 9000x9000 page at 300 dpi still fits.
DEFAULT_MAX_PIXELS = 89_478_485


def _check_languages(instance, attribute, value):
    if not _LANGS.match(value):
        raise ValueError(
            f"languages must be tesseract language codes joined by '+', e.g. 'eng' or 'eng+spa', got {value!r}"
        )


def _check_outputs(instance, attribute, value):
    wrong = [item for item in value if item not in OUTPUTS]
    if wrong:
        raise ValueError(f"outputs may hold {', '.join(OUTPUTS)}, got {', '.join(map(repr, wrong))}")


def _check_window(instance, attribute, value):
    if value < 3 or value % 2 == 0:
        raise ValueError(f"sauvola_window must be an odd number of pixels, 3 or more, got {value}")


@attrs.frozen(kw_only=True)
class PreprocessSettings:
    """How pages are cleaned up before OCR (all off by default: tesseract binarizes by itself).

    binarize:       ``none``, ``otsu`` (one global threshold) or ``sauvola`` (local thresholds, for
                    uneven lighting).
    sauvola_window: side of Sauvola's window in pixels (odd); sauvola_k: its sensitivity.
    deskew:         estimate the skew of the text lines and level them; max_skew: degrees searched.
    denoise:        3x3 median filter (salt-and-pepper specks).
    orientation:    turn pages whose text lines run vertically by 90 degrees, and pages that are
                    upside down (more ink below the lines than above) by 180.
    backend:        ``auto`` (CuPy when a GPU is visible, else Numba), ``cpu`` or ``gpu``.
    dpi:            resolution PDF pages are rasterized at (and assumed for images without one).
    max_pixels:     refuse pages larger than this many pixels before decoding them.
    """

    binarize: str = attrs.field(default="none", validator=one_of(BINARIZE_METHODS))
    sauvola_window: int = attrs.field(default=25, validator=_check_window)
    sauvola_k: float = attrs.field(default=0.2, validator=between(0.01, 1.0))
    deskew: bool = False
    max_skew: float = attrs.field(default=5.0, validator=between(0.5, 45.0))
    denoise: bool = False
    orientation: bool = False
    backend: str = attrs.field(default="auto", validator=one_of(BACKENDS))
    dpi: int = attrs.field(default=300, validator=between(50, 1200))
    max_pixels: int = attrs.field(default=DEFAULT_MAX_PIXELS, validator=between(1, 2_000_000_000))


@attrs.frozen(kw_only=True)
class RecognizeSettings(PreprocessSettings):
    """Options of ``ocr.recognize`` (and every preprocessing option).

    languages:  tesseract languages joined by '+', e.g. ``eng``, ``spa``, ``eng+spa``.
    psm:        tesseract's page segmentation mode (0-13; 3 = automatic).
    outputs:    artifacts to produce: ``pdf`` (searchable PDF), ``hocr``, ``tsv``.
    force:      OCR PDF pages that already carry text too (their text layer is otherwise kept).
    crop:       give tesseract only the inked part of each page (with a margin); results keep the
                whole page's coordinates. Large blank areas cost tesseract time and add nothing.
    timeout:    seconds one page may take in tesseract before the step fails.
    jobs:       pages recognized at once (0 = one per CPU core).
    tesseract:  the tesseract command (a name on PATH or a path).
    """

    languages: str = attrs.field(default="eng", validator=_check_languages)
    psm: int = attrs.field(default=3, validator=between(0, 13))
    outputs: tuple[str, ...] = attrs.field(default=("pdf", "hocr"), converter=tuple, validator=_check_outputs)
    force: bool = False
    crop: bool = True
    timeout: float = attrs.field(default=120.0, validator=between(0.1, 3600))
    jobs: int = attrs.field(default=0, validator=between(0, 256))
    tesseract: str = "tesseract"
