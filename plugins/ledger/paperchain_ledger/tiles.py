"""The tree's layout: tiles of 8 levels, and entry bundles of 256 entries.

A tile at tile-level L, index k holds the nodes at heights 8L..8L+7 above the 256 base nodes
``[256k, 256k+256)`` of height 8L: row 0 has up to 256 hashes, row 1 up to 128, ..., row 7 up to
2, stored as one blob (16,320 bytes when complete). The top of a complete tile is row 0 of the
tile above. So a million entries are 3,907 + 16 + 1 tile rows, every node a proof needs is a
slice of a blob, and an append rewrites only the rightmost tile of each level.

Only the rightmost ("edge") tile of each level ever changes; every tile left of it is complete
and immutable, which is why readers can cache complete tiles without invalidation.

In memory the edge tiles are kept as the *frontier*: for every height h, the list of the nodes of
that height that lie in the edge tile of its tile-level (``frontier[h][0]`` is node
``row_base(size >> h, h)``). Appends extend the frontier one height at a time over the whole
batch (one list comprehension of hashes per height), then cut the touched tiles out of it.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections.abc import Sequence
from itertools import islice
from operator import itemgetter

HEIGHT = 8
WIDTH = 1 << HEIGHT
HASH = 32
_sha256 = hashlib.sha256
_LEN = struct.Struct(">I")

Frontier = list  # one list of hashes per height, height 0 first


def row_offsets(width: int) -> list[int]:
    """Where each row starts in a tile blob, counted in hashes."""
    offsets, at = [], 0
    for r in range(HEIGHT):
        offsets.append(at)
        at += width >> r
    return offsets


FULL_OFFSETS = row_offsets(WIDTH)
# Byte offset of row r in a complete tile, and the mask of a node's position in that row.
ROW_BYTES = [o * HASH for o in FULL_OFFSETS]
ROW_MASK = [(1 << (HEIGHT - r)) - 1 for r in range(HEIGHT)]


def _siblings_getter(p: int) -> itemgetter:
    slices = []
    for r in range(HEIGHT):
        at = (FULL_OFFSETS[r] + ((p >> r) ^ 1)) * HASH
        slices.append(slice(at, at + HASH))
    return itemgetter(*slices)


# SIBLINGS[p](blob): the 8 sibling hashes (rows 0..7) on the path of base node p of a complete tile:
# the part of an inclusion proof that one tile holds, cut out in one call.
SIBLINGS = [_siblings_getter(p) for p in range(WIDTH)]


def tile_id(level: int, index: int) -> int:
    return (level << 48) | index


def row_base(count: int, height: int) -> int:
    """Index of the first node of height ``height`` in its edge tile, when ``count`` nodes of that
    height exist."""
    shift = HEIGHT - (height & 7)
    return (count >> shift) << shift


def decode_tile(width: int, blob: bytes) -> list[list[bytes]]:
    rows, at = [], 0
    for r in range(HEIGHT):
        n = width >> r
        rows.append([blob[i:i + HASH] for i in range(at, at + n * HASH, HASH)])
        at += n * HASH
    if at != len(blob):
        raise ValueError(f"a tile of width {width} must hold {at} bytes, not {len(blob)}")
    return rows


def extend(frontier: Sequence[list], size: int, leaves: Sequence[bytes]) -> tuple[Frontier, list[tuple[int, int, int, bytes]]]:
    """Add leaf hashes to the tree of ``size`` leaves whose edge tiles are ``frontier``; return the
    new frontier and every tile that changed as ``(level, index, width, blob)``. The input is not
    modified (readers may hold it), so a failed commit leaves the old state intact."""
    sha = _sha256
    old, new = size, size + len(leaves)
    top = new.bit_length()  # heights 0 .. top-1 hold nodes
    levels = (top + HEIGHT - 1) // HEIGHT
    heights = levels * HEIGHT
    spans: list[tuple[int, list]] = []  # per height: (first index, nodes from there to the end)
    fresh: list[bytes] = list(leaves)
    for h in range(heights):
        c_old = old >> h
        base = row_base(c_old, h)
        row = frontier[h] if h < len(frontier) else []
        seq = row + fresh if fresh else row
        spans.append((base, seq))
        a = ((c_old >> 1) << 1) - base
        b = (((new >> h) >> 1) << 1) - base
        if b > a:
            it = iter(seq) if a == 0 and b == len(seq) else islice(seq, a, b)
            fresh = [sha(b"\x01" + x + y).digest() for x, y in zip(it, it)]
        else:
            fresh = []
    touched = []
    join = b"".join
    for level in range(levels):
        h0 = level * HEIGHT
        c_old, c_new = old >> h0, new >> h0
        if c_new == c_old:
            break  # nothing changed at this height, so nothing above it either
        for k in range(c_old >> HEIGHT, ((c_new - 1) >> HEIGHT) + 1):
            parts = []
            for r in range(HEIGHT):
                base, seq = spans[h0 + r]
                start = (k << (HEIGHT - r)) - base
                end = min(((k + 1) << (HEIGHT - r)), c_new >> r) - base
                parts.append(join(seq[start:end]))
            touched.append((level, k, min(WIDTH, c_new - (k << HEIGHT)), join(parts)))
    out = []
    for h in range(top):
        base, seq = spans[h]
        cut = row_base(new >> h, h) - base
        out.append(seq[cut:] if cut else seq)
    return out, touched


def frontier_from_tiles(size: int, edge_tile) -> Frontier:
    """The frontier of a tree of ``size`` leaves; ``edge_tile(level, index, width)`` returns the blob
    of an edge tile."""
    frontier: Frontier = []
    top = size.bit_length()
    for level in range((top + HEIGHT - 1) // HEIGHT):
        count = size >> (HEIGHT * level)
        width = count & (WIDTH - 1)
        rows = decode_tile(width, edge_tile(level, count >> HEIGHT, width)) if width else [[] for _ in range(HEIGHT)]
        frontier.extend(rows)
    return frontier[:top]


def root_from_frontier(frontier: Sequence[list], size: int) -> bytes:
    """The root of the whole current tree: the last node of every height whose bit is set in
    ``size`` (the complete subtrees it splits into) lies in the frontier, folded right to left."""
    if size == 0:
        return _sha256(b"").digest()
    sha = _sha256
    low = (size & -size).bit_length() - 1
    result = frontier[low][-1]
    for h in range(low + 1, size.bit_length()):
        if size >> h & 1:
            result = sha(b"\x01" + frontier[h][-1] + result).digest()
    return result


# -- entry bundles --------------------------------------------------------------------------------
# A bundle holds up to 256 entries: their count (4-byte big-endian), each one's length (4-byte
# big-endian), then the entries back to back. Lengths first, so encoding is two C-level calls
# (an array of lengths, one join) and reading entry i needs no walk over the entries before it.

_U32 = next(code for code in "IL" if array(code).itemsize == 4)
_SWAP = sys.byteorder == "little"  # lengths are stored big-endian


def bundle_header(entries: Sequence[bytes]) -> tuple[bytes, int]:
    """The bytes a bundle of ``entries`` starts with (count, lengths), and the whole bundle's size."""
    lengths = array(_U32, map(len, entries))
    total = sum(lengths)
    if _SWAP:
        lengths.byteswap()
    header = _LEN.pack(len(entries)) + lengths.tobytes()
    return header, len(header) + total


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    return bundle_header(entries)[0] + b"".join(entries)


def _lengths(blob: bytes) -> array:
    if len(blob) < 4:
        raise ValueError("the bundle is shorter than its entry count")
    (count,) = _LEN.unpack_from(blob, 0)
    if count > WIDTH or 4 + 4 * count > len(blob):
        raise ValueError(f"the bundle claims {count} entries, more than it holds lengths for")
    lengths = array(_U32, blob[4:4 + 4 * count])
    if _SWAP:
        lengths.byteswap()
    return lengths


def decode_bundle(blob: bytes) -> list[bytes]:
    """The entries of a bundle; ValueError (naming the position) if it does not parse."""
    lengths = _lengths(blob)
    entries, at = [], 4 + 4 * len(lengths)
    for position, n in enumerate(lengths):
        if at + n > len(blob):
            raise ValueError(f"entry {position} of the bundle claims {n} bytes past the bundle's end")
        entries.append(blob[at:at + n])
        at += n
    if at != len(blob):
        raise ValueError(f"the bundle has {len(blob) - at} bytes after its last entry")
    return entries


def entry_span(blob: bytes, position: int) -> tuple[int, int]:
    """Where entry ``position`` of a bundle lies in the blob: (start, end) byte offsets."""
    lengths = _lengths(blob)
    if not 0 <= position < len(lengths):
        raise ValueError(f"the bundle has no entry {position}: it holds {len(lengths)}")
    start = 4 + 4 * len(lengths) + sum(lengths[:position])
    return start, start + lengths[position]


def bundle_entry(blob: bytes, position: int) -> bytes:
    """Entry ``position`` of a bundle."""
    start, end = entry_span(blob, position)
    return blob[start:end]
