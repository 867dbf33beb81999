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


def encode_entries(entries: Sequence[bytes]) -> list[bytes]:
    """Each entry preceded by its 4-byte big-endian length, as a flat list (join slices of it)."""
    parts: list = [b""] * (2 * len(entries))
    parts[0::2] = map(_LEN.pack, map(len, entries))
    parts[1::2] = entries
    return parts


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    return b"".join(encode_entries(entries))


def decode_bundle(blob: bytes) -> list[bytes]:
    """The entries of a bundle; ValueError (naming the position) if it does not parse."""
    entries, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError(f"entry {len(entries)} of the bundle has a truncated length")
        (n,) = _LEN.unpack_from(blob, at)
        at += 4
        if at + n > len(blob):
            raise ValueError(f"entry {len(entries)} of the bundle claims {n} bytes past the bundle's end")
        entries.append(blob[at:at + n])
        at += n
    return entries


def bundle_entry(blob: bytes, position: int) -> bytes:
    """Entry ``position`` of a bundle, skipping the ones before it by their lengths."""
    at, unpack = 0, _LEN.unpack_from
    for _ in range(position):
        at += 4 + unpack(blob, at)[0]
    (n,) = unpack(blob, at)
    return blob[at + 4:at + 4 + n]
