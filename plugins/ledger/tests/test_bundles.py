"""Entry bundles: the stored form of up to 256 entries."""

import pytest

from paperchain_ledger import tiles


@pytest.mark.parametrize("entries", [[b""], [b"a"], [b"x" * 70_000, b"", b"yz"], [bytes([i]) * i for i in range(256)]])
def test_bundles_round_trip_and_index(entries):
    blob = tiles.encode_bundle(entries)
    assert tiles.decode_bundle(blob) == entries
    assert [tiles.bundle_entry(blob, i) for i in range(len(entries))] == entries
    start, end = tiles.entry_span(blob, len(entries) - 1)
    assert blob[start:end] == entries[-1] and end == len(blob)


@pytest.mark.parametrize("blob, says", [
    (b"\x00\x00", "shorter than its entry count"),
    (b"\x00\x00\x00\x02\x00\x00\x00\x01", "more than it holds lengths for"),
    (b"\x00\x00\x01\x01" + b"\x00" * 2000, "more than it holds lengths for"),  # 257 entries: over the width
    (b"\x00\x00\x00\x01\x00\x00\x00\x05abc", "past the bundle's end"),
    (b"\x00\x00\x00\x01\x00\x00\x00\x01abc", "after its last entry"),
])
def test_damaged_bundles_are_named(blob, says):
    with pytest.raises(ValueError, match=says):
        tiles.decode_bundle(blob)


def test_an_entry_past_the_bundle_is_refused():
    with pytest.raises(ValueError, match="no entry 2"):
        tiles.bundle_entry(tiles.encode_bundle([b"a", b"b"]), 2)
