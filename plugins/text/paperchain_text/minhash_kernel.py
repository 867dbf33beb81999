"""Numba kernels for MinHash signatures over word shingles.

Input is the document's normalized text as UTF-8 bytes: words joined by single spaces (a space
byte never occurs inside a multi-byte UTF-8 character, so spaces alone delimit words). A shingle
is ``k`` consecutive words, i.e. the byte span from the first word's start to the last word's end.

Each shingle's bytes are hashed to 32 bits, mixed with the MurmurHash3 32-bit finalizer and put
through ``num_perm`` affine permutations ``a*h + b mod 2**32`` (``a`` odd); the signature keeps
each permutation's minimum. Two token hashes:

* ``HASH_SHA1`` - the first four bytes of SHA-1, read little-endian: what datasketch's default
  ``sha1_hash32`` computes, so signatures are bit-identical to datasketch 2.x ``affine32``.
  Shingles that fit one SHA-1 block are hashed 64 at a time, side by side, so the rounds run as
  SIMD loops (about 3 times faster than one at a time).
* ``HASH_FNV1A`` - 64-bit FNV-1a folded to 32 bits: several times cheaper than SHA-1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HASH_SHA1 = 0
HASH_FNV1A = 1

SPACE = 32


@njit(cache=True, inline="always")
def _rotl32(x, n):
    return ((x << np.uint64(n)) | (x >> np.uint64(32 - n))) & np.uint64(0xFFFFFFFF)


@njit(cache=True)
def _sha1_block(block, w, state):
    # One 64-byte block of SHA-1 (FIPS 180-4); words held in uint64, kept to 32 bits.
    m = np.uint64(0xFFFFFFFF)
    for t in range(16):
        w[t] = (
            (np.uint64(block[4 * t]) << np.uint64(24))
            | (np.uint64(block[4 * t + 1]) << np.uint64(16))
            | (np.uint64(block[4 * t + 2]) << np.uint64(8))
            | np.uint64(block[4 * t + 3])
        )
    for t in range(16, 80):
        w[t] = _rotl32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
    a = state[0]
    b = state[1]
    c = state[2]
    d = state[3]
    e = state[4]
    # Four loops of 20 rounds rather than one with a branch per round: Numba unrolls them.
    for t in range(20):
        temp = (_rotl32(a, 5) + ((b & c) | ((~b & m) & d)) + e + np.uint64(0x5A827999) + w[t]) & m
        e, d, c, b, a = d, c, _rotl32(b, 30), a, temp
    for t in range(20, 40):
        temp = (_rotl32(a, 5) + (b ^ c ^ d) + e + np.uint64(0x6ED9EBA1) + w[t]) & m
        e, d, c, b, a = d, c, _rotl32(b, 30), a, temp
    for t in range(40, 60):
        temp = (_rotl32(a, 5) + ((b & c) | (b & d) | (c & d)) + e + np.uint64(0x8F1BBCDC) + w[t]) & m
        e, d, c, b, a = d, c, _rotl32(b, 30), a, temp
    for t in range(60, 80):
        temp = (_rotl32(a, 5) + (b ^ c ^ d) + e + np.uint64(0xCA62C1D6) + w[t]) & m
        e, d, c, b, a = d, c, _rotl32(b, 30), a, temp
    state[0] = (state[0] + a) & m
    state[1] = (state[1] + b) & m
    state[2] = (state[2] + c) & m
    state[3] = (state[3] + d) & m
    state[4] = (state[4] + e) & m


@njit(cache=True, inline="always")
def _bswap32(h):
    return (
        ((h & np.uint64(0xFF)) << np.uint64(24))
        | ((h & np.uint64(0xFF00)) << np.uint64(8))
        | ((h >> np.uint64(8)) & np.uint64(0xFF00))
        | (h >> np.uint64(24))
    )


@njit(cache=True)
def sha1_hash32(data, start, end, block, w, state):
    """First 4 bytes of SHA-1(data[start:end]) as a little-endian uint32 (datasketch's sha1_hash32)."""
    state[0] = np.uint64(0x67452301)
    state[1] = np.uint64(0xEFCDAB89)
    state[2] = np.uint64(0x98BADCFE)
    state[3] = np.uint64(0x10325476)
    state[4] = np.uint64(0xC3D2E1F0)
    length = end - start
    pos = start
    while end - pos >= 64:
        for i in range(64):
            block[i] = data[pos + i]
        _sha1_block(block, w, state)
        pos += 64
    rest = end - pos
    for i in range(rest):
        block[i] = data[pos + i]
    block[rest] = 0x80
    for i in range(rest + 1, 64):
        block[i] = 0
    if rest >= 56:  # no room for the length: one more block
        _sha1_block(block, w, state)
        for i in range(64):
            block[i] = 0
    bits = np.uint64(length) * np.uint64(8)
    for i in range(8):
        block[63 - i] = np.uint8((bits >> np.uint64(8 * i)) & np.uint64(0xFF))
    _sha1_block(block, w, state)
    return _bswap32(state[0])  # digest[:4] read little-endian is H0 with its bytes swapped


@njit(cache=True)
def fnv1a_hash32(data, start, end):
    """64-bit FNV-1a of data[start:end], folded to 32 bits by xoring its halves."""
    h = np.uint64(0xCBF29CE484222325)
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * np.uint64(0x100000001B3)
    return (h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def fmix32(h):
    """MurmurHash3's 32-bit finalizer (a bijection), as datasketch applies before permuting."""
    m = np.uint64(0xFFFFFFFF)
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & m
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & m
    return h ^ (h >> np.uint64(16))


@njit(cache=True)
def word_bounds(data):
    """Start and end byte offsets of the space-separated words in ``data`` (one pass)."""
    n = data.shape[0]
    starts = np.empty(n // 2 + 1, np.int64)  # at most this many words
    ends = np.empty(n // 2 + 1, np.int64)
    count = 0
    inside = False
    for i in range(n):
        if data[i] != SPACE:
            if not inside:
                starts[count] = i
                inside = True
        elif inside:
            ends[count] = i
            count += 1
            inside = False
    if inside:
        ends[count] = n
        count += 1
    return starts[:count], ends[:count]


ONE_BLOCK = 55  # longest message that fits one 64-byte block with its padding
GROUP = 64  # one-block messages hashed side by side (enough for LLVM to vectorize the lane loops)


@njit(cache=True)
def _sha1_one_block(data, starts, ends, chosen):
    """First SHA-1 word of each one-block message ``data[starts[k]:ends[k]]``, k in ``chosen``.

    Messages are hashed side by side in groups of ``GROUP``: every step of a round is a short
    loop over the group's independent messages, held in fixed-size local arrays, which LLVM
    turns into SIMD code."""
    # Each result is wrapped in np.uint32(...): Numba widens uint32 arithmetic to 64 bits, and
    # truncating keeps LLVM on 32-bit SIMD lanes; the wrap-around is SHA-1's addition mod 2**32.
    m = chosen.shape[0]
    out = np.empty(m, np.uint64)
    w = np.zeros((16, GROUP), np.uint32)  # the message schedule as a ring of 16 words
    a = np.empty(GROUP, np.uint32)
    b = np.empty(GROUP, np.uint32)
    c = np.empty(GROUP, np.uint32)
    d = np.empty(GROUP, np.uint32)
    e = np.empty(GROUP, np.uint32)
    f = np.empty(GROUP, np.uint32)
    for first in range(0, m, GROUP):
        size = min(GROUP, m - first)
        w[:] = 0
        for i in range(size):
            s = starts[chosen[first + i]]
            n = ends[chosen[first + i]] - s
            full = n >> 2
            for q in range(full):  # whole big-endian words
                p = s + 4 * q
                w[q, i] = np.uint32((np.uint32(data[p]) << np.uint32(24)) | (np.uint32(data[p + 1]) << np.uint32(16))
                                    | (np.uint32(data[p + 2]) << np.uint32(8)) | np.uint32(data[p + 3]))
            last = np.uint32(0x80) << np.uint32(24 - 8 * (n & 3))  # the tail bytes, then the 0x80 pad
            for j in range(n & 3):
                last |= np.uint32(data[s + 4 * full + j]) << np.uint32(24 - 8 * j)
            w[full, i] = np.uint32(last)
            w[15, i] = np.uint32(n * 8)
        a[:] = 0x67452301
        b[:] = 0xEFCDAB89
        c[:] = 0x98BADCFE
        d[:] = 0x10325476
        e[:] = 0xC3D2E1F0
        for t in range(80):
            row = t & 15
            if t >= 16:
                for i in range(GROUP):
                    x = np.uint32(w[(t - 3) & 15, i] ^ w[(t - 8) & 15, i] ^ w[(t - 14) & 15, i] ^ w[row, i])
                    w[row, i] = np.uint32(np.uint32(x << np.uint32(1)) | (x >> np.uint32(31)))
            if t < 20:
                k = np.uint32(0x5A827999)
                for i in range(GROUP):
                    f[i] = np.uint32((b[i] & c[i]) | np.uint32(~b[i] & d[i]))
            elif t < 40 or t >= 60:
                k = np.uint32(0x6ED9EBA1) if t < 40 else np.uint32(0xCA62C1D6)
                for i in range(GROUP):
                    f[i] = np.uint32(b[i] ^ c[i] ^ d[i])
            else:
                k = np.uint32(0x8F1BBCDC)
                for i in range(GROUP):
                    f[i] = np.uint32((b[i] & c[i]) | (b[i] & d[i]) | (c[i] & d[i]))
            for i in range(GROUP):
                av = a[i]
                bv = b[i]
                temp = np.uint32(np.uint32(np.uint32(np.uint32(av << np.uint32(5)) | (av >> np.uint32(27))) + f[i])
                                 + np.uint32(np.uint32(e[i] + k) + w[row, i]))
                e[i] = d[i]
                d[i] = c[i]
                c[i] = np.uint32(np.uint32(bv << np.uint32(30)) | (bv >> np.uint32(2)))
                b[i] = av
                a[i] = temp
        for i in range(size):
            out[first + i] = (np.uint64(a[i]) + np.uint64(0x67452301)) & np.uint64(0xFFFFFFFF)
    return out


@njit(cache=True)
def sha1_hashes(data, starts, ends):
    """datasketch's sha1_hash32 of every span ``data[starts[i]:ends[i]]``.

    Spans that fit one SHA-1 block (nearly all shingles) are hashed together, across messages;
    longer ones one by one."""
    count = starts.shape[0]
    out = np.empty(count, np.uint64)
    short = 0
    for i in range(count):
        if ends[i] - starts[i] <= ONE_BLOCK:
            short += 1
    chosen = np.empty(short, np.int64)
    j = 0
    block = np.empty(64, np.uint8)
    w64 = np.empty(80, np.uint64)
    state64 = np.empty(5, np.uint64)
    for i in range(count):
        if ends[i] - starts[i] <= ONE_BLOCK:
            chosen[j] = i
            j += 1
        else:
            out[i] = sha1_hash32(data, starts[i], ends[i], block, w64, state64)
    h0 = _sha1_one_block(data, starts, ends, chosen)
    for i in range(short):
        out[chosen[i]] = _bswap32(h0[i])
    return out


@njit(cache=True)
def spans_of_shingles(starts, ends, k):
    """Byte spans of every k-word shingle, given the words' spans (one span of all words if fewer than k)."""
    words = starts.shape[0]
    if words == 0:
        return starts, ends
    count = words - k + 1 if words >= k else 1
    span = min(k, words)
    return starts[:count], ends[span - 1:span - 1 + count]


@njit(cache=True)
def shingle_spans(data, k):
    """Byte spans of every k-word shingle of space-separated ``data``."""
    starts, ends = word_bounds(data)
    return spans_of_shingles(starts, ends, k)


@njit(cache=True)
def hash_spans(data, starts, ends, scheme):
    """32-bit hash of each span ``data[starts[i]:ends[i]]`` with the scheme's token hash."""
    if scheme == HASH_SHA1:
        return sha1_hashes(data, starts, ends)
    out = np.empty(starts.shape[0], np.uint64)
    for i in range(starts.shape[0]):
        out[i] = fnv1a_hash32(data, starts[i], ends[i])
    return out


@njit(cache=True)
def shingle_hashes(data, k, scheme):
    """32-bit hash of every k-word shingle of ``data`` (one shingle of all words if fewer than k)."""
    starts, ends = shingle_spans(data, k)
    return hash_spans(data, starts, ends, scheme)


@njit(cache=True)
def minhash_from_hashes(hashes, a, b):
    """Signature (uint32[num_perm]) of a set of 32-bit token hashes under affine32 permutations."""
    num_perm = a.shape[0]
    sig = np.full(num_perm, np.uint32(0xFFFFFFFF), np.uint32)
    for i in range(hashes.shape[0]):
        hv = np.uint32(fmix32(hashes[i]))
        for p in range(num_perm):
            # uint32 wrap-around is the mod 2**32; the casts keep LLVM on 32-bit SIMD lanes.
            v = np.uint32(np.uint32(a[p] * hv) + b[p])
            sig[p] = min(sig[p], v)
    return sig


@njit(cache=True)
def minhash_signature(data, k, scheme, a, b):
    """MinHash signature of the k-word shingles of normalized ``data`` (see the module docstring)."""
    return minhash_from_hashes(shingle_hashes(data, k, scheme), a, b)


@njit(cache=True)
def minhash_of_text(raw, is_word, k, scheme, a, b):
    """MinHash signature of UTF-8 text ``raw`` (case-folded already): normalize, shingle, hash,
    permute, in one call."""
    data, word_starts, word_ends = normalize_words(raw, is_word)
    starts, ends = spans_of_shingles(word_starts, word_ends, k)
    return minhash_from_hashes(hash_spans(data, starts, ends, scheme), a, b)


@njit(cache=True)
def band_keys(sig, bands, rows):
    """One 63-bit key per LSH band: FNV-1a over the band's index and its ``rows`` values."""
    keys = np.empty(bands, np.int64)
    for band in range(bands):
        h = np.uint64(0xCBF29CE484222325) ^ np.uint64(band)
        h = h * np.uint64(0x100000001B3)
        for r in range(rows):
            v = np.uint64(sig[band * rows + r])
            for byte in range(4):
                h = (h ^ ((v >> np.uint64(8 * byte)) & np.uint64(0xFF))) * np.uint64(0x100000001B3)
        keys[band] = np.int64(h >> np.uint64(1))  # SQLite integers are signed 64-bit
    return keys


@njit(cache=True)
def normalize_words(data, is_word):
    """Words of UTF-8 ``data`` joined by single spaces, with each word's start and end offset in
    that output. ``is_word[cp]`` says if code point ``cp`` is a word character (regex ``\\w``).
    ``data`` must be valid UTF-8 (as Python's encode makes it)."""
    n = data.shape[0]
    out = np.empty(n, np.uint8)
    starts = np.empty(n // 2 + 1, np.int64)  # at most this many words
    ends = np.empty(n // 2 + 1, np.int64)
    words = 0
    size = 0
    inside = False
    i = 0
    while i < n:
        lead = data[i]
        if lead < 0x80:
            cp = np.int64(lead)
            width = 1
        elif lead < 0xE0:
            cp = (np.int64(lead & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F)
            width = 2
        elif lead < 0xF0:
            cp = (np.int64(lead & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6) | np.int64(data[i + 2] & 0x3F)
            width = 3
        else:
            cp = ((np.int64(lead & 0x07) << 18) | (np.int64(data[i + 1] & 0x3F) << 12)
                  | (np.int64(data[i + 2] & 0x3F) << 6) | np.int64(data[i + 3] & 0x3F))
            width = 4
        if cp < is_word.shape[0] and is_word[cp]:
            if not inside:
                if words:
                    out[size] = SPACE
                    size += 1
                starts[words] = size
                inside = True
            for j in range(width):
                out[size] = data[i + j]
                size += 1
        elif inside:
            ends[words] = size
            words += 1
            inside = False
        i += width
    if inside:
        ends[words] = size
        words += 1
    return out[:size], starts[:words], ends[:words]


@njit(cache=True)
def normalize_utf8(data, is_word):
    """The normalized bytes alone (see :func:`normalize_words`)."""
    return normalize_words(data, is_word)[0]
