"""MinHash signatures of documents, usable without the kernel.

>>> hasher = MinHasher(num_perm=128, scheme="datasketch-affine32")
>>> a = hasher.sign("the cat sat on the mat and looked at the dog")
>>> b = hasher.sign("the cat sat on the mat and looked at a dog")
>>> 0.0 <= estimate_jaccard(a, b) <= 1.0
True

Schemes (the names are part of what an index stores, so signatures never mix):

``datasketch-affine32``
    Bit-identical to ``datasketch.MinHash(num_perm, seed)`` (datasketch 2.x, whose default scheme
    is ``"affine32"``) updated with the same shingles as UTF-8 bytes: SHA-1 token hash (first four
    bytes, little-endian), MurmurHash3 fmix32, ``a*h + b mod 2**32`` with ``a``/``b`` drawn from
    ``numpy.random.RandomState(seed)`` exactly as datasketch draws them.
``fnv1a-affine32`` (default)
    The same permutations over a 64-bit FNV-1a token hash folded to 32 bits: faster, not
    comparable with datasketch's signatures.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from . import minhash_kernel as kernel

SCHEMES = {"fnv1a-affine32": kernel.HASH_FNV1A, "datasketch-affine32": kernel.HASH_SHA1}
DEFAULT_SCHEME = "fnv1a-affine32"
WORD = re.compile(r"\w+")
EMPTY_VALUE = 0xFFFFFFFF  # a permutation's value when the set is empty


def normalize(text: str) -> str:
    """Case-folded words joined by single spaces: punctuation and spacing don't make documents differ.

    The reference for :func:`normalized_bytes`, which does the same in a Numba kernel.
    """
    return " ".join(WORD.findall(text.casefold()))


# Above this code point Unicode has only tags, variation selectors, private use and unassigned
# planes: none match \w (a test checks it), so the table stops here and the kernel treats the
# rest as separators. Building it takes about 0.1 s, once per process.
WORD_TABLE_SIZE = 0x40000


@functools.cache
def word_characters() -> np.ndarray:
    """``table[cp]`` is 1 when code point ``cp`` matches regex ``\\w`` (the same rule as :func:`normalize`)."""
    everything = "".join(map(chr, range(WORD_TABLE_SIZE)))
    table = np.zeros(WORD_TABLE_SIZE, dtype=np.uint8)
    for run in WORD.finditer(everything):  # word characters come in a few thousand runs
        table[run.start():run.end()] = 1
    return table


def normalized_bytes(text: str) -> np.ndarray:
    """``normalize(text).encode()`` as a uint8 array, computed by a Numba kernel."""
    raw = np.frombuffer(text.casefold().encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return kernel.normalize_utf8(raw, word_characters())


def shingles(text: str, size: int = 3) -> list[bytes]:
    """The distinct shingles of ``size`` words (UTF-8), as :class:`MinHasher` sees them.

    A text with fewer words than ``size`` is one shingle; a text without words has none.
    """
    words = normalize(text).split(" ")
    if words == [""]:
        return []
    if len(words) < size:
        return [" ".join(words).encode()]
    return list(dict.fromkeys(" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine32 permutation parameters ``(a, b)``, drawn as datasketch 2.x draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Signs texts: ``sign(text) -> uint32[num_perm]``. Cheap to keep; thread-safe."""

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: str = DEFAULT_SCHEME, shingle_size: int = 3):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if not 1 <= num_perm <= 4096:
            raise ValueError(f"num_perm must be between 1 and 4096, got {num_perm}")
        if not 1 <= shingle_size <= 16:
            raise ValueError(f"shingle_size must be between 1 and 16, got {shingle_size}")
        self.num_perm = num_perm
        self.seed = seed
        self.scheme = scheme
        self.shingle_size = shingle_size
        self.a, self.b = permutations(num_perm, seed)

    def sign(self, text: str) -> np.ndarray:
        """The signature of ``text``'s shingles; all ``0xFFFFFFFF`` for a text without words."""
        raw = np.frombuffer(text.casefold().encode("utf-8", "surrogatepass"), dtype=np.uint8)
        return kernel.minhash_of_text(raw, word_characters(), self.shingle_size, SCHEMES[self.scheme], self.a, self.b)

    def sign_shingles(self, items: list[bytes]) -> np.ndarray:
        """The signature of given byte strings (each one a set member), e.g. datasketch's inputs.

        The items are joined into one buffer with their offsets (C-level calls), so the kernels
        hash them all in one call, SHA-1 in SIMD lanes as for text."""
        lengths = np.fromiter(map(len, items), np.int64, len(items))
        ends = np.cumsum(lengths)
        data = np.frombuffer(b"".join(items), dtype=np.uint8)
        hashes = kernel.hash_spans(data, ends - lengths, ends, SCHEMES[self.scheme])
        return kernel.minhash_from_hashes(hashes, self.a, self.b)


def token_hash(item: bytes, scheme: str) -> int:
    data = np.frombuffer(item, dtype=np.uint8)
    if SCHEMES[scheme] == kernel.HASH_SHA1:
        return int(kernel.sha1_hash32(data, 0, len(data), np.empty(64, np.uint8), np.empty(80, np.uint64),
                                      np.empty(5, np.uint64)))
    return int(kernel.fnv1a_hash32(data, 0, len(data)))


def is_empty(signature: np.ndarray) -> bool:
    return bool(np.all(signature == EMPTY_VALUE))


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of equal positions: MinHash's estimate of the shingle sets' Jaccard similarity."""
    if a.shape != b.shape:
        raise ValueError(f"signatures differ in length ({a.shape[0]} and {b.shape[0]}): same num_perm needed")
    return float(np.count_nonzero(a == b)) / a.shape[0]
