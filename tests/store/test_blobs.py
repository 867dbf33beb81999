"""The blob store encrypted at rest: streamed AES-256-GCM chunks, checked on every read."""

import hashlib
import os
import tracemalloc

import pytest

from paperchain.store import blobcrypt
from paperchain.store.blobcrypt import CHUNK, BlobDamaged
from paperchain.store.blobs import DiskBlobStore
from paperchain.store.keys import KeyringThread


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERCHAIN_MASTER_KEY", raising=False)
    loop = KeyringThread(tmp_path)
    blobs = DiskBlobStore(tmp_path / "blobs", keyring=loop.open(), encrypt=True)
    yield blobs
    blobs.close()
    loop.close()


def _put(store, tmp_path, data: bytes, tenant: str = "") -> str:
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    digest, size, _ = store.put_file(source, tenant=tenant)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    return digest


@pytest.mark.parametrize("size", [1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
def test_what_goes_in_comes_out_and_is_not_stored_in_the_clear(store, tmp_path, size):
    data = os.urandom(size // 2) + b"needle in the haystack" + os.urandom(size - size // 2)
    name = _put(store, tmp_path, data)
    stored = store.stored_path(name)
    assert stored.name.endswith(".pce") and b"needle in the haystack" not in stored.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o444
    assert store.read_bytes(name) == data
    with store.open(name) as reader:
        assert reader.size == len(data) and reader.sha256 == name
    assert store.path(name).read_bytes() == data


def _damage(path, offset: int, replacement: bytes | None = None, truncate: int | None = None):
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    if truncate is not None:
        raw = raw[:truncate]
    else:
        raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_changed_byte_anywhere_is_found(store, tmp_path):
    name = _put(store, tmp_path, os.urandom(2 * CHUNK + 10))
    stored = store.stored_path(name)
    size = stored.stat().st_size
    for offset in (10, 60, CHUNK + 200, size - 5):  # header, first record, second record, trailer
        name = _put(store, tmp_path, os.urandom(2 * CHUNK + 10))
        stored = store.stored_path(name)
        _damage(stored, offset)
        with pytest.raises(BlobDamaged):
            store.read_bytes(name)


def test_reordered_dropped_or_swapped_records_are_found(store, tmp_path):
    name = _put(store, tmp_path, os.urandom(3 * CHUNK))
    stored = store.stored_path(name)
    raw = stored.read_bytes()
    head = len(raw) - 3 * (CHUNK + 16) - blobcrypt.TRAILER
    records = [raw[head + i * (CHUNK + 16): head + (i + 1) * (CHUNK + 16)] for i in range(3)]
    trailer = raw[-blobcrypt.TRAILER:]
    os.chmod(stored, 0o644)
    for body in (records[1] + records[0] + records[2], records[0] + records[2], records[0] + records[1]):
        stored.write_bytes(raw[:head] + body + trailer)
        with pytest.raises(BlobDamaged):
            store.read_bytes(name)
    # another blob of the same tenant put in this one's place: its trailer is bound to its own name
    other = _put(store, tmp_path, b"something else entirely")
    stored.write_bytes(store.stored_path(other).read_bytes())
    with pytest.raises(BlobDamaged, match="does not authenticate"):
        store.read_bytes(name)
    assert store.read_bytes(other) == b"something else entirely"


def test_each_tenant_has_its_own_key(store, tmp_path):
    _put(store, tmp_path, b"acmf's own", tenant="acmf")
    name = _put(store, tmp_path, b"tenant data", tenant="acme")
    assert store.key_version(name) == ("acme", 1)
    stored = store.stored_path(name)
    raw = stored.read_bytes()
    os.chmod(stored, 0o644)
    stored.write_bytes(raw.replace(b"acme", b"acmf", 1))  # claim another tenant's key
    with pytest.raises(BlobDamaged, match="does not authenticate"):
        store.read_bytes(name)


def test_a_large_blob_is_streamed_not_held_in_memory(store, tmp_path):
    source = tmp_path / "big.bin"
    with open(source, "wb") as out:
        for _ in range(24):
            out.write(os.urandom(CHUNK))
    tracemalloc.start()
    try:
        digest, _, _ = store.put_file(source)
        with store.open(digest) as reader:
            while reader.read(CHUNK):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * CHUNK  # a few chunks at a time, never the 24 MiB


def test_plaintext_copies_are_private_bounded_and_removed(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERCHAIN_MASTER_KEY", raising=False)
    loop = KeyringThread(tmp_path)
    ring = loop.open()
    stale = tmp_path / "plain" / "999999999-deadbeef"  # left by a process that is gone
    stale.mkdir(parents=True)
    (stale / "leftover").write_bytes(b"old plaintext")
    store = DiskBlobStore(tmp_path / "blobs", keyring=ring, encrypt=True, plain_limit=3 * CHUNK)
    assert not stale.exists()
    names = [_put(store, tmp_path, os.urandom(CHUNK)) for _ in range(5)]
    paths = [store.path(name) for name in names]
    assert oct(store.plain.root.stat().st_mode & 0o777) == oct(0o700)
    assert oct(paths[-1].stat().st_mode & 0o777) == oct(0o400)
    kept = [p for p in paths if p.exists()]
    assert len(kept) == 3 and paths[-1] in kept  # the least recently used went first
    assert store.path(names[0]).read_bytes() == store.read_bytes(names[0])  # decrypted again on demand
    store.close()
    loop.close()
    assert not store.plain.root.exists()


def test_unencrypted_blobs_from_before_stay_readable_and_are_checked(store, tmp_path):
    data = b"written before encryption"
    name = hashlib.sha256(data).hexdigest()
    legacy = store.root / name[:2] / name[2:4] / name
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(data)
    assert store.read_bytes(name) == data and store.path(name) == legacy
    legacy.write_bytes(b"written before encryptioN")
    with pytest.raises(BlobDamaged):
        with store.open(name, sha256=name) as reader:
            reader.read()
    legacy.write_bytes(data)
    store.rewrite(name, "", sha256=name)
    assert not legacy.exists() and store.is_encrypted(name) and store.read_bytes(name) == data
