"""aHash, dHash and pHash, identical to the `imagehash` library's for the same PIL image.

The definitions (as imagehash computes them; our code is our own):

- every hash starts from ``image.convert("L").resize(size, LANCZOS)``;
- aHash: ``size = (n, n)``, bit = pixel > mean of the pixels;
- dHash: ``size = (n + 1, n)``, bit = pixel > its left neighbour;
- pHash: ``size = (n*f, n*f)``, a 2-D type-II DCT (scipy.fftpack, unnormalised), keep the top-left
  n x n block, bit = coefficient > its median;
- hex text: the bits row by row as one big-endian number, zero-padded to ceil(bits/4) digits.

The speed comes from doing less than three ``convert`` + ``resize`` calls: one grey conversion,
read in place (:mod:`.arrowview`), and one read of it for the first resampling pass of all three
targets (:mod:`.resample`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .arrowview import grey_view
from .resample import resize_many

ALGORITHMS = ("ahash", "dhash", "phash")


def pixels_for_hashing(image: Image.Image) -> np.ndarray:
    """Pillow's own ``convert("L")``, done once for the three hashes, read without a copy."""
    return grey_view(image if image.mode == "L" else image.convert("L"))


def bits_to_hex(bits: np.ndarray) -> str:
    flat = bits.ravel()
    value = int("".join("1" if b else "0" for b in flat), 2)
    return format(value, f"0{-(-flat.size // 4)}x")


def hash_bits(image: Image.Image, hash_size: int = 8, highfreq_factor: int = 4) -> dict[str, np.ndarray]:
    """The three hashes of ``image`` as boolean (hash_size, hash_size) arrays."""
    import scipy.fftpack

    if hash_size < 2:
        raise ValueError("hash_size must be at least 2")
    n, side = hash_size, hash_size * highfreq_factor
    small_a, small_d, small_p = resize_many(pixels_for_hashing(image), [(n, n), (n + 1, n), (side, side)])
    ahash = small_a > small_a.mean()
    dhash = small_d[:, 1:] > small_d[:, :-1]
    dct = scipy.fftpack.dct(scipy.fftpack.dct(small_p, axis=0), axis=1)[:n, :n]
    phash = dct > np.median(dct)
    return {"ahash": ahash, "dhash": dhash, "phash": phash}


def perceptual_hashes(image: Image.Image, hash_size: int = 8, highfreq_factor: int = 4) -> dict[str, str]:
    """The three hashes as imagehash's hex strings: ``str(imagehash.phash(image)) == result["phash"]``."""
    return {name: bits_to_hex(bits) for name, bits in hash_bits(image, hash_size, highfreq_factor).items()}


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
