"""Options of the vision components: light attrs classes (listing plugins imports nothing heavy).

Every field has a default, so each component works with no options. Validators raise ValueError
saying what is allowed; the SDK turns that into a ConfigError naming the step or table.
"""

from __future__ import annotations

import attrs

from paperchain_sdk.settings import between

OPERATIONS = ("contrast", "denoise", "sharpen", "deskew")
HASH_ALGORITHMS = ("ahash", "dhash", "phash")


def _check_operations(instance, attribute, value):
    unknown = [op for op in value if op not in OPERATIONS]
    if unknown or not value:
        raise ValueError(f"operations must be a non-empty list of {', '.join(OPERATIONS)}; got {list(value)!r}")


@attrs.frozen(kw_only=True)
class ImageSettings:
    """How a document becomes images, shared by every vision component.

    dpi:        resolution PDF pages are rendered at (images keep their own pixels).
    max_pages:  pages (PDF pages or TIFF frames) read at most; the rest are skipped and counted.
    max_pixels: images larger than this are refused before decoding (decompression bombs).
    """

    dpi: int = attrs.field(default=100, validator=between(18, 600))
    max_pages: int = attrs.field(default=10, validator=between(1, 10_000))
    max_pixels: int = attrs.field(default=60_000_000, validator=between(1, 1_000_000_000))


@attrs.frozen(kw_only=True)
class ColorsSettings(ImageSettings):
    """k: colors to find; seed: k-means++ seed; sample: pixels sampled per page (0 = all)."""

    k: int = attrs.field(default=5, validator=between(1, 64))
    seed: int = 0
    sample: int = attrs.field(default=200_000, validator=between(0, 100_000_000))
    max_iter: int = attrs.field(default=100, validator=between(1, 10_000))
    tol: float = attrs.field(default=1e-4, validator=between(0, 1e6))


@attrs.frozen(kw_only=True)
class QualitySettings(ImageSettings):
    """max_skew: the largest skew angle (degrees) searched for, either way."""

    max_skew: float = attrs.field(default=15.0, validator=between(0.5, 45))


@attrs.frozen(kw_only=True)
class HashesSettings(ImageSettings):
    """hash_size: bits per side (8 gives imagehash's 64-bit hashes); highfreq_factor: pHash's oversampling."""

    hash_size: int = attrs.field(default=8, validator=between(2, 64))
    highfreq_factor: int = attrs.field(default=4, validator=between(1, 16))


@attrs.frozen(kw_only=True)
class FacesSettings(ImageSettings):
    """Face detection: scale_factor and step_ratio trade speed for recall; min_size/max_size in pixels
    of the analysed image, which is first scaled so its longer side is at most max_side. Of boxes
    overlapping by more than max_overlap (of the smaller one) only the largest stays; a box stays
    only if the second model gives it at least min_face_score and, on a colour page, at least
    min_skin_share of its centre is skin-coloured (0 turns either check off)."""

    scale_factor: float = attrs.field(default=1.2, validator=between(1.01, 4))
    step_ratio: float = attrs.field(default=1.0, validator=between(0.1, 10))
    min_size: int = attrs.field(default=24, validator=between(8, 10_000))
    max_size: int = attrs.field(default=0, validator=between(0, 100_000))
    max_side: int = attrs.field(default=1024, validator=between(64, 20_000))
    min_neighbor_number: int = attrs.field(default=4, validator=between(0, 100))
    max_overlap: float = attrs.field(default=0.3, validator=between(0, 1))
    min_face_score: float = attrs.field(default=0.3, validator=between(0, 1))
    min_skin_share: float = attrs.field(default=0.2, validator=between(0, 1))


@attrs.frozen(kw_only=True)
class EnhanceSettings(ImageSettings):
    """operations run in the order given; sharpen_radius/sharpen_amount tune the unsharp mask;
    denoise_size is the median window; clip_percent the share of darkest/brightest pixels the
    contrast stretch saturates."""

    operations: tuple[str, ...] = attrs.field(default=OPERATIONS, converter=tuple, validator=_check_operations)
    clip_percent: float = attrs.field(default=1.0, validator=between(0, 20))
    denoise_size: int = attrs.field(default=3, validator=between(3, 15))
    sharpen_radius: float = attrs.field(default=1.5, validator=between(0.1, 20))
    sharpen_amount: float = attrs.field(default=1.0, validator=between(0, 10))
    max_skew: float = attrs.field(default=15.0, validator=between(0.5, 45))
