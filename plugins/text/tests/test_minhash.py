"""MinHash kernels against their references: hashlib's SHA-1, a Python FNV-1a, NumPy, datasketch."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from paperchain_text import minhash_kernel as kernel
from paperchain_text.minhash import (
    MinHasher,
    estimate_jaccard,
    is_empty,
    normalize,
    permutations,
    shingles,
    token_hash,
)

UNICODE = "Ünïcödé Straße ΕΛΛΗΝΙΚΆ «citas» — naïve café 東京 emoji 🎉 and tabs\tand\nnewlines, Ｆｕｌｌ!"


def python_fnv1a32(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def numpy_minhash(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference: fmix32 then a*h+b mod 2**32, column minimum, in plain NumPy uint32 arithmetic."""
    h = hashes.astype(np.uint32).reshape(-1, 1)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    h = h ^ (h >> np.uint32(16))
    values = h * a + b
    return np.minimum(np.full(a.shape, 0xFFFFFFFF, np.uint32), values.min(axis=0)) if len(hashes) else \
        np.full(a.shape, 0xFFFFFFFF, np.uint32)


@pytest.mark.parametrize("length", [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300])
def test_sha1_kernel_matches_hashlib(length):
    data = bytes((i * 37 + length) % 256 for i in range(length))
    expected = struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]
    assert token_hash(data, "datasketch-affine32") == expected


@pytest.mark.parametrize("data", [b"", b"a", b"hello world", UNICODE.encode(), b"x" * 1000])
def test_fnv_kernel_matches_python(data):
    assert token_hash(data, "fnv1a-affine32") == python_fnv1a32(data)


@pytest.mark.parametrize("scheme", ["fnv1a-affine32", "datasketch-affine32"])
def test_signature_kernel_matches_numpy_reference(real_texts, scheme):
    hasher = MinHasher(num_perm=96, seed=7, scheme=scheme)
    for text in real_texts:
        hashes = np.array([token_hash(s, scheme) for s in shingles(text)], dtype=np.uint64)
        assert np.array_equal(hasher.sign(text), numpy_minhash(hashes, hasher.a, hasher.b))


def test_shingles_are_what_the_kernel_signs(real_texts):
    hasher = MinHasher(scheme="datasketch-affine32", shingle_size=4)
    for text in real_texts + [UNICODE]:
        assert np.array_equal(hasher.sign(text), hasher.sign_shingles(shingles(text, 4)))


def test_normalize_folds_case_and_punctuation():
    assert normalize("  Hello,   WORLD!\nStraße—ÜBER ") == "hello world strasse über"
    assert shingles("One two", 3) == [b"one two"]
    assert shingles("... !!", 3) == []
    assert shingles("a b c a b c", 2) == [b"a b", b"b c", b"c a"]


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42), (256, 2024)])
def test_compatibility_mode_is_bit_identical_to_datasketch(real_texts, num_perm, seed):
    datasketch = pytest.importorskip("datasketch", minversion="2.0")
    hasher = MinHasher(num_perm=num_perm, seed=seed, scheme="datasketch-affine32")
    for text in real_texts + [UNICODE]:
        reference = datasketch.MinHash(num_perm=num_perm, seed=seed)  # datasketch 2.x default: affine32
        assert reference.scheme == "affine32"
        reference.update_batch(shingles(text))
        ours = hasher.sign(text)
        assert ours.dtype == reference.hashvalues.dtype == np.uint32
        assert np.array_equal(ours, reference.hashvalues), "signature differs from datasketch's"
        assert np.array_equal(hasher.a, reference.permutations[0]) and np.array_equal(hasher.b, reference.permutations[1])


def test_compatibility_mode_jaccard_equals_datasketch(real_texts):
    datasketch = pytest.importorskip("datasketch", minversion="2.0")
    hasher = MinHasher(scheme="datasketch-affine32")
    a_text, b_text = real_texts[0], real_texts[0][: len(real_texts[0]) // 2] + real_texts[1][:2000]
    a, b = datasketch.MinHash(), datasketch.MinHash()
    a.update_batch(shingles(a_text))
    b.update_batch(shingles(b_text))
    assert estimate_jaccard(hasher.sign(a_text), hasher.sign(b_text)) == a.jaccard(b)


def test_empty_text_has_the_empty_signature():
    sig = MinHasher().sign("  ,;  ")
    assert is_empty(sig) and sig.dtype == np.uint32


def test_estimate_tracks_true_jaccard(real_texts):
    hasher = MinHasher(num_perm=512)
    words = normalize(real_texts[0]).split()[:3000]
    a_words, b_words = words[:2000], words[1000:]
    a_set, b_set = set(shingles(" ".join(a_words))), set(shingles(" ".join(b_words)))
    true = len(a_set & b_set) / len(a_set | b_set)
    estimate = estimate_jaccard(hasher.sign(" ".join(a_words)), hasher.sign(" ".join(b_words)))
    assert abs(estimate - true) < 0.08  # 512 permutations: standard error about 0.02


def test_permutations_are_odd_affine_maps():
    a, b = permutations(128, 1)
    assert a.dtype == b.dtype == np.uint32 and np.all(a & 1 == 1)


def test_bad_hasher_parameters():
    with pytest.raises(ValueError, match="scheme"):
        MinHasher(scheme="legacy")
    with pytest.raises(ValueError, match="num_perm"):
        MinHasher(num_perm=0)
    with pytest.raises(ValueError, match="same num_perm"):
        estimate_jaccard(MinHasher(num_perm=8).sign("a b c"), MinHasher(num_perm=16).sign("a b c"))


def test_band_keys_depend_on_band_and_values():
    sig = MinHasher().sign("the quick brown fox jumps over the lazy dog")
    keys = kernel.band_keys(sig, 42, 3)
    assert len(set(keys.tolist())) == 42 and np.all(keys >= 0)
    other = sig.copy()
    other[5] ^= 1  # band 1 (values 3..5) changes, others don't
    changed = kernel.band_keys(other, 42, 3) != keys
    assert changed.tolist() == [i == 1 for i in range(42)]


def test_grouped_sha1_matches_hashlib_for_mixed_lengths():
    rng = np.random.default_rng(5)
    pieces = [bytes(rng.integers(33, 127, size=int(n), dtype=np.uint8)) for n in rng.integers(0, 140, size=300)]
    data = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    ends = np.cumsum([len(p) for p in pieces]).astype(np.int64)
    starts = ends - np.array([len(p) for p in pieces], dtype=np.int64)
    expected = [struct.unpack("<I", hashlib.sha1(p).digest()[:4])[0] for p in pieces]
    assert kernel.sha1_hashes(data, starts, ends).tolist() == expected


def test_no_word_characters_beyond_the_table():
    from paperchain_text.minhash import WORD, WORD_TABLE_SIZE, word_characters

    beyond = "".join(map(chr, range(WORD_TABLE_SIZE, 0x110000)))
    assert WORD.search(beyond) is None
    assert word_characters()[ord("ß")] == 1 and word_characters()[ord("—")] == 0


def test_normalization_kernel_matches_the_regex(real_texts):
    from paperchain_text.minhash import normalized_bytes, word_characters

    for text in real_texts + [UNICODE, "", "  ,, ", "x", "lone \ud800 surrogate"]:
        expected = normalize(text).encode("utf-8", "surrogatepass")
        assert normalized_bytes(text).tobytes() == expected
        raw = np.frombuffer(text.casefold().encode("utf-8", "surrogatepass"), dtype=np.uint8)
        data, starts, ends = kernel.normalize_words(raw, word_characters())
        assert [data[s:e].tobytes() for s, e in zip(starts, ends)] == ([w for w in expected.split(b" ")] if expected else [])
