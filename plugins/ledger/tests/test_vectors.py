"""RFC 6962 / 9162 proof verification against the transparency-dev vectors, and our proofs
against a direct implementation of the RFC's recursive definitions."""

from __future__ import annotations

import base64
import functools
import json
import random
from pathlib import Path

import pytest

from paperchain_ledger import merkle

TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"

VECTORS = sorted((TESTDATA / "rfc6962").rglob("*.json"))


def _b(value):
    return base64.b64decode(value) if value is not None else None


def test_vectors_are_there():
    assert len(VECTORS) > 150


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_vector(path):
    case = json.loads(path.read_text())
    proof = [_b(p) for p in case["proof"] or []]
    if "leafIdx" in case:
        check = lambda: merkle.verify_inclusion(case["leafIdx"], case["treeSize"], _b(case["leafHash"]), proof,  # noqa: E731
                                                _b(case["root"]))
    else:
        check = lambda: merkle.verify_consistency(case["size1"], case["size2"], _b(case["root1"]),  # noqa: E731
                                                  _b(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


# -- the RFC's recursive definitions, written plainly, as the reference --------------------------

def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.largest_power_of_two_below(len(leaves))
    return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    if len(leaves) == 1:
        return []
    k = merkle.largest_power_of_two_below(len(leaves))
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, complete):
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = merkle.largest_power_of_two_below(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def test_bottom_up_root_equals_the_rfc_definition():
    leaves = merkle.leaf_hashes(b"%d" % i for i in range(300))
    for n in range(1, 300):
        assert merkle.root_of_hashes(leaves[:n]) == mth(leaves[:n])


def test_log_proofs_equal_the_rfc_definitions(log):
    entries = [b"entry %d" % i for i in range(1100)]
    log.append_many(entries[:1])
    log.append_many(entries[1:700])
    log.append_many(entries[700:])
    leaves = merkle.leaf_hashes(entries)
    rng = random.Random(5)
    for n in [1, 2, 3, 4, 5, 7, 8, 255, 256, 257, 511, 512, 513, 700, 1024, 1025, 1100]:
        assert log.root(n) == mth(leaves[:n])
        for m in {0, n - 1, rng.randrange(n)}:
            assert log.inclusion_proof(m, n) == path(m, leaves[:n])
            merkle.verify_inclusion(m, n, leaves[m], log.inclusion_proof(m, n), log.root(n))
        for m in {1, n, rng.randint(1, n)}:
            assert log.consistency_proof(m, n) == subproof(m, leaves[:n], True)
            merkle.verify_consistency(m, n, log.root(m), log.root(n), log.consistency_proof(m, n))


def test_a_wrong_proof_is_refused(log):
    log.append_many([b"a", b"b", b"c", b"d", b"e"])
    proof = log.inclusion_proof(2, 5)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(3, 5, merkle.leaf_hash(b"c"), proof, log.root(5))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(2, 5, log.root(3), log.root(5), log.consistency_proof(2, 5))


def test_proofs_across_tile_levels_equal_the_rfc_definitions(tmp_path):
    """Trees past 65,536 leaves use three tile levels: whole-tile sibling cuts, edge tiles, tiles
    read back from SQLite (a tiny tile cache) and a log reopened from disk must all agree with the
    RFC's definitions."""
    from paperchain_ledger.log import LedgerLog

    entries = [b"e%d" % i for i in range(66_100)]
    leaves = merkle.leaf_hashes(entries)

    @functools.cache
    def mth_r(lo, hi):
        if hi - lo == 1:
            return leaves[lo]
        k = merkle.largest_power_of_two_below(hi - lo)
        return merkle.node_hash(mth_r(lo, lo + k), mth_r(lo + k, hi))

    def path_r(m, lo, hi):
        if hi - lo == 1:
            return []
        k = merkle.largest_power_of_two_below(hi - lo)
        if m < lo + k:
            return path_r(m, lo, lo + k) + [mth_r(lo + k, hi)]
        return path_r(m, lo + k, hi) + [mth_r(lo, lo + k)]

    def subproof_r(m, lo, hi, complete):
        if m == hi - lo:
            return [] if complete else [mth_r(lo, hi)]
        k = merkle.largest_power_of_two_below(hi - lo)
        if m <= k:
            return subproof_r(m, lo, lo + k, complete) + [mth_r(lo + k, hi)]
        return subproof_r(m - k, lo + k, hi, False) + [mth_r(lo, lo + k)]

    log = LedgerLog.open(tmp_path / "big", tile_cache=2)
    for a, b in [(0, 1), (1, 300), (300, 65_535), (65_535, 65_536), (65_536, 65_537), (65_537, 66_000)]:
        log.append_many(entries[a:b])
    log.close()
    log = LedgerLog.open(tmp_path / "big", tile_cache=2)  # the frontier comes back from the edge tiles
    log.append_many(entries[66_000:])
    rng = random.Random(7)
    try:
        for n in [1, 257, 40_000, 65_535, 65_536, 65_537, 66_000, 66_100]:
            assert log.root(n) == mth_r(0, n)
            for m in {0, n - 1, n // 2, rng.randrange(n), rng.randrange(n)}:
                proof = log.inclusion_proof(m, n)
                assert proof == path_r(m, 0, n)
                merkle.verify_inclusion(m, n, leaves[m], proof, log.root(n))
            for m in {1, n, n // 3 or 1, rng.randint(1, n)}:
                proof = log.consistency_proof(m, n)
                assert proof == subproof_r(m, 0, n, True)
                merkle.verify_consistency(m, n, log.root(m), log.root(n), proof)
        assert log.entry(65_536) == entries[65_536]
    finally:
        log.close()
