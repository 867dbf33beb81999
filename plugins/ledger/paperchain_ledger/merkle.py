"""RFC 9162 Merkle tree hashing, proof shapes and proof verification (hashlib only).

Leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)``. Proofs are
described as ranges of leaves ``[start, end)`` in RFC order; a store turns each range into a hash
with :func:`range_nodes` (the aligned complete subtrees it is made of) and :func:`fold`.

This module imports nothing of Paperchain, so the stand-alone verifier can use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof, root or hash failed verification (or was malformed)."""


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    sha = _sha256
    return [sha(b"\x00" + e).digest() for e in entries]


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, bottom-up (an odd last node is carried up unchanged, which
    gives the same tree as RFC 9162's split at the largest power of two)."""
    if not hashes:
        return _sha256(b"").digest()
    sha, level = _sha256, list(hashes)
    while len(level) > 1:
        it = iter(level)
        paired = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# -- proof shapes -------------------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[size]), deepest first (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    lo, hi, path = 0, size, []
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(first, D[second]) (RFC 9162 2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        return []
    path: list[tuple[int, int]] = []
    m, lo, hi, complete = first, 0, second, True
    while m != hi - lo:
        k = largest_power_of_two_below(hi - lo)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    if not complete:
        path.append((lo, hi))
    path.reverse()
    return path


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned complete subtrees ``(height, index)`` covering ``[start, end)``, left to right."""
    nodes = []
    while start < end:
        height = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << height) > end - start:
            height -= 1
        nodes.append((height, start >> height))
        start += 1 << height
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its subtrees' hashes (left to right): the right side folds first."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = _sha256(b"\x01" + left + result).digest()
    return result


def resolve_ranges(ranges: Sequence[tuple[int, int]], get_nodes: Callable[[list], list[bytes]]) -> list[bytes]:
    """Turn proof ranges into hashes with one batched node lookup."""
    pieces = [range_nodes(a, b) for a, b in ranges]
    flat = get_nodes([node for piece in pieces for node in piece])
    out, at = [], 0
    for piece in pieces:
        out.append(fold(flat[at:at + len(piece)]))
        at += len(piece)
    return out


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value) if value is not None else 'none'}")


def _check_proof(proof: Sequence[bytes]) -> None:
    try:
        bad = any(map(HASH_SIZE.__ne__, map(len, proof)))
    except TypeError:
        bad = True
    if bad:
        for p in proof:
            _check_hash(p, "a proof hash")
        raise ProofError("the proof's hashes must be bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2).

    The RFC's loop, unrolled by what it does: the first ``inner`` proof hashes are siblings below
    the point where the leaf's path leaves the tree's right border (index bit i says which side),
    the remaining ones are all left siblings on that border. A proof of another length is the
    RFC's "shorter/longer than the tree is deep" failure."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    _check_proof(proof)
    inner = (index ^ (size - 1)).bit_length()
    depth = inner + (index >> inner).bit_count()
    if len(proof) != depth:
        longer = "longer" if len(proof) > depth else "shorter"
        raise ProofError(f"the inclusion proof is {longer} than the tree is deep ({len(proof)} hashes, expected {depth})")
    sha, r, bits = _sha256, leaf, index
    try:
        for p in proof[:inner]:
            r = sha(b"\x01" + p + r).digest() if bits & 1 else sha(b"\x01" + r + p).digest()
            bits >>= 1
        for p in proof[inner:]:
            r = sha(b"\x01" + p + r).digest()
    except TypeError:
        raise ProofError("the proof's hashes must be bytes") from None
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    _check_hash(root, "the root hash")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"the inclusion proof for entry {index} does not lead to the tree's root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the tree of size ``second`` extends the one of size ``first``."""
    if first < 1 or second < first:
        raise ProofError(f"no consistency proof can go from size {first} to size {second}")
    if first == second:  # nothing to prove: the two checkpoints must simply agree
        if proof:
            raise ProofError("trees of equal size need an empty consistency proof")
        if first_root != second_root:
            raise ProofError("trees of equal size have different roots")
        return
    _check_hash(first_root, "the first root")
    _check_hash(second_root, "the second root")
    _check_proof(proof)
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is itself a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    sha = _sha256
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = sha(b"\x01" + c + fr).digest()
            sr = sha(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != first_root:
        raise ProofError(f"the consistency proof does not lead to the root of the tree of size {first}")
    if sr != second_root:
        raise ProofError(f"the consistency proof does not lead to the root of the tree of size {second}")
