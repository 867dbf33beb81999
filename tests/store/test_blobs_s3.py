"""The blob store port's contract on both implementations (local disk and S3 on moto, each with and
without encryption at rest), then what is S3's own: conditional create, damaged objects, startup
checks, and a kernel whose blobs live in a bucket."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import tracemalloc
from urllib.parse import parse_qs, urlsplit

import pytest

from paperchain.config import load_config
from paperchain.store import blobs_s3
from paperchain.store.blobcrypt import CHUNK, BlobDamaged
from paperchain.store.blobs import DiskBlobStore
from paperchain.store.blobs_s3 import S3BlobStore, check_bucket, parse_blob_url
from paperchain.store.blobstore import BlobStore
from paperchain.store.keys import KeyringThread
from paperchain_sdk import ConfigError, NotFoundError

STORES = ("disk", "disk-encrypted", "s3", "s3-encrypted")


def _bucket(blob_url: str):
    """boto3 on the test's bucket, to look at (and damage) what the store wrote."""
    import boto3

    parts = urlsplit(blob_url)
    client = boto3.client("s3", endpoint_url=parse_qs(parts.query)["endpoint"][0], region_name="us-east-1")
    return client, parts.hostname


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERCHAIN_MASTER_KEY", raising=False)
    loop = KeyringThread(tmp_path)
    yield loop, loop.open()
    loop.close()


@pytest.fixture
def keyring(keys):
    return keys[1]


def _store(request, kind: str, tmp_path, keyring, *, encrypt: bool):
    if kind == "s3":
        made = S3BlobStore(request.getfixturevalue("s3_blob_url"), tmp_path / "scratch", keyring=keyring, encrypt=encrypt)
    else:
        made = DiskBlobStore(tmp_path / "blobs", keyring=keyring, encrypt=encrypt)
    request.addfinalizer(made.close)
    return made


@pytest.fixture(params=STORES)
def store(request, tmp_path, keyring):
    return _store(request, request.param.split("-")[0], tmp_path, keyring, encrypt=request.param.endswith("encrypted"))


@pytest.fixture(params=("disk", "s3"))
def encrypted_store(request, tmp_path, keyring):
    return _store(request, request.param, tmp_path, keyring, encrypt=True)


@pytest.fixture(params=("disk", "s3"))
def plain_store(request, tmp_path, keyring):
    return _store(request, request.param, tmp_path, keyring, encrypt=False)


@pytest.fixture
def s3_store(tmp_path, keyring, s3_blob_url):
    made = S3BlobStore(s3_blob_url, tmp_path / "scratch", keyring=keyring, encrypt=False)
    yield made
    made.close()


# -- the port's contract, on every store --------------------------------------------------------


def test_every_store_is_a_blob_store(store):
    assert isinstance(store, BlobStore)


@pytest.mark.parametrize("size", [0, 1, CHUNK + 1, 2 * CHUNK + 5])
def test_what_goes_in_comes_out_checked(store, size):
    data = os.urandom(size)
    digest, stored_size = store.put(io.BytesIO(data), tenant="acme")
    assert (digest, stored_size) == (hashlib.sha256(data).hexdigest(), size)
    assert store.exists(digest)
    assert store.read_bytes(digest) == data
    with store.open(digest, sha256=digest) as reader:
        assert reader.read() == data and reader.size == size
    assert store.path(digest).read_bytes() == data


def test_the_same_content_is_kept_once(store):
    first = store.put(io.BytesIO(b"same bytes"))
    second = store.put_bytes(b"same bytes")
    assert first == second[:2]
    assert [name for name, _ in store.names()] == [first[0]]


def test_a_file_is_put_and_moved(store, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"moved in")
    digest, size, path = store.put_file(source, move=True)
    assert not source.exists() and path.read_bytes() == b"moved in" and size == 8
    assert store.read_bytes(digest) == b"moved in"


def test_a_staged_blob_is_filed_under_its_name_and_the_first_one_wins(store, tmp_path):
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"second")
    staged = store.stage(tmp_path / "a")
    assert staged.sha256 == hashlib.sha256(b"first").hexdigest() and staged.size == 5
    name = "d0c" + "0" * 61  # a document's id: derived from the digest, not the digest itself
    assert store.commit(staged, name).read_bytes() == b"first"
    store.plain.drop(name)  # read it back from the store itself, not its plaintext copy
    store.commit(store.stage(tmp_path / "b"), name)
    assert store.read_bytes(name) == b"first"
    unwanted = store.stage(tmp_path / "b")
    store.discard(unwanted)
    assert not os.path.exists(unwanted.tmp)


def test_a_wrong_digest_is_refused(store):
    digest, _ = store.put(io.BytesIO(b"content"))
    with pytest.raises(BlobDamaged):
        with store.open(digest, sha256="0" * 64) as reader:
            reader.read()


def test_a_missing_blob_is_not_found(store):
    missing = "ab" * 32
    assert not store.exists(missing)
    assert not store.path(missing).exists()
    with pytest.raises(NotFoundError):
        store.open(missing)
    assert store.delete(missing) is False


def test_a_deleted_blob_is_gone(store):
    digest, _, path = store.put_bytes(b"short-lived")
    assert store.delete(digest) is True
    assert not store.exists(digest) and not path.exists()
    with pytest.raises(NotFoundError):
        store.read_bytes(digest)


def test_blobs_are_encrypted_and_rotated_per_tenant(encrypted_store, keys):
    store, (loop, keyring) = encrypted_store, keys
    digest, _ = store.put(io.BytesIO(b"for acme only"), tenant="acme")
    assert store.is_encrypted(digest) and store.key_version(digest) == ("acme", 1)
    loop.run(keyring.rotate_data_keys())
    store.rewrite(digest, "acme", sha256=digest)
    assert store.key_version(digest) == ("acme", 2) and store.read_bytes(digest) == b"for acme only"


def test_an_unencrypted_blob_is_encrypted_by_rewrite(plain_store):
    store = plain_store
    digest, _ = store.put(io.BytesIO(b"from before encryption"))
    store.encrypt = True
    store.rewrite(digest, "", sha256=digest)
    assert list(store.names()) == [(digest, True)]
    assert store.read_bytes(digest) == b"from before encryption"


# -- S3's own -------------------------------------------------------------------------------------


def test_objects_are_keyed_like_the_disk_and_not_stored_in_the_clear(tmp_path, keyring, s3_blob_url):
    store = S3BlobStore(s3_blob_url, tmp_path / "scratch", keyring=keyring, encrypt=True)
    try:
        digest, _ = store.put(io.BytesIO(b"needle in the haystack"))
    finally:
        store.close()
    client, bucket = _bucket(s3_blob_url)
    key = f"{digest[:2]}/{digest[2:4]}/{digest}.pce"
    assert b"needle" not in client.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_a_damaged_object_is_refused_before_its_first_byte(s3_store, s3_blob_url):
    digest, _ = s3_store.put(io.BytesIO(b"the original"))
    client, bucket = _bucket(s3_blob_url)
    key = f"{digest[:2]}/{digest[2:4]}/{digest}"
    metadata = client.head_object(Bucket=bucket, Key=key)["Metadata"]
    client.put_object(Bucket=bucket, Key=key, Body=b"the forgery!", Metadata=metadata)
    with pytest.raises(BlobDamaged, match="does not match its SHA-256"):
        s3_store.open(digest)
    client.put_object(Bucket=bucket, Key=key, Body=b"the original")  # right bytes, no digest kept with them
    with pytest.raises(BlobDamaged, match="no SHA-256"):
        s3_store.open(digest)


def test_a_damaged_encrypted_object_is_refused(tmp_path, keyring, s3_blob_url):
    store = S3BlobStore(s3_blob_url, tmp_path / "scratch", keyring=keyring, encrypt=True)
    try:
        digest, _ = store.put(io.BytesIO(os.urandom(CHUNK + 10)))
        client, bucket = _bucket(s3_blob_url)
        key = f"{digest[:2]}/{digest[2:4]}/{digest}.pce"
        raw = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        raw[100] ^= 0xFF
        client.put_object(Bucket=bucket, Key=key, Body=bytes(raw))
        with pytest.raises(BlobDamaged, match="does not authenticate"):
            store.read_bytes(digest)
    finally:
        store.close()


def test_a_second_create_of_a_name_leaves_the_first_object(s3_store, s3_blob_url, monkeypatch, tmp_path):
    """Both writers pass the existence check (as in a race): the conditional PUT keeps the first."""
    monkeypatch.setattr(s3_store, "exists", lambda name: False)
    name = "d0c" + "1" * 61
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"second")
    s3_store.commit(s3_store.stage(tmp_path / "a"), name)
    # 412: there already, not an error; and the loser's bytes are not taken for the blob's
    assert s3_store.commit(s3_store.stage(tmp_path / "b"), name).read_bytes() == b"first"
    assert s3_store.read_bytes(name) == b"first"


def test_concurrent_puts_of_the_same_content_leave_one_object(s3_store, s3_blob_url, monkeypatch):
    monkeypatch.setattr(s3_store, "exists", lambda name: False)  # every writer reaches the conditional PUT
    data = os.urandom(100_000)
    results, errors = [], []
    start = threading.Barrier(8)

    def put():
        try:
            start.wait()
            results.append(s3_store.put(io.BytesIO(data)))
        except Exception as exc:  # collected: the test fails below, naming it
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(results)) == 1
    client, bucket = _bucket(s3_blob_url)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert s3_store.read_bytes(results[0][0]) == data


def test_a_large_blob_goes_up_in_parts(s3_store, s3_blob_url, monkeypatch):
    monkeypatch.setattr(blobs_s3, "MULTIPART", 6 << 20)
    monkeypatch.setattr(blobs_s3, "PART", 5 << 20)  # S3's smallest part
    data = os.urandom(12 << 20)
    digest, _ = s3_store.put(io.BytesIO(data))
    client, bucket = _bucket(s3_blob_url)
    head = client.head_object(Bucket=bucket, Key=f"{digest[:2]}/{digest[2:4]}/{digest}")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["Metadata"]["sha256"] == digest
    s3_store.plain.drop(digest)
    assert hashlib.sha256(s3_store.read_bytes(digest)).hexdigest() == digest


def test_a_large_blob_is_streamed_both_ways_not_held_in_memory(plain_store, monkeypatch, tmp_path):
    monkeypatch.setattr(blobs_s3, "MULTIPART", 6 << 20)
    monkeypatch.setattr(blobs_s3, "PART", 5 << 20)
    source = tmp_path / "large.bin"
    with open(source, "wb") as out:
        for _ in range(48):
            out.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        digest, _, _ = plain_store.put_file(source)
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with plain_store.open(digest, sha256=digest) as reader:
            while reader.read(1 << 20):
                pass
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert put_peak < 24 << 20 and read_peak < 16 << 20, (put_peak >> 20, read_peak >> 20)


def test_a_prefix_keeps_the_blobs_in_a_folder_of_the_bucket(request, tmp_path, keyring, s3_blob_url):
    url = s3_blob_url.replace("?", "/team-a/blobs?", 1)
    store = S3BlobStore(url, tmp_path / "scratch", keyring=keyring)
    request.addfinalizer(store.close)
    digest, _ = store.put(io.BytesIO(b"in a folder"))
    client, bucket = _bucket(s3_blob_url)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == [
        f"team-a/blobs/{digest[:2]}/{digest[2:4]}/{digest}"]
    client.put_object(Bucket=bucket, Key="elsewhere/not-ours", Body=b"another application's")
    assert store.usage() == (len(b"in a folder"), 1)


@pytest.mark.parametrize(("url", "says"), [
    ("http://bucket", "is not an s3:// URL"),
    ("s3://Bad_Bucket", "is not a bucket name"),
    ("s3://key:secret@bucket", "must not hold credentials"),
    ("s3://bucket?endpoint=ftp://host", "is not an http:// or https:// address"),
    ("s3://bucket?endpont=http://127.0.0.1:9000", "unknown parameter(s) endpont"),
])
def test_a_bad_blob_url_is_refused_saying_what_is_wrong(url, says):
    with pytest.raises(ConfigError) as caught:
        parse_blob_url(url)
    assert says in caught.value.message and "secret" not in caught.value.message


def test_the_setting_is_read_from_the_file_and_the_environment(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\nblob_url = "s3://from-file?region=eu-west-1"\n')
    assert load_config(tmp_path / "plugins.toml", env={}).kernel.blob_url == "s3://from-file?region=eu-west-1"
    config = load_config(tmp_path / "plugins.toml", env={"PAPERCHAIN_BLOB_URL": "s3://from-env"})
    assert config.kernel.blob_url == "s3://from-env"
    with pytest.raises(ConfigError, match=r"blob_url \(or PAPERCHAIN_BLOB_URL\)"):
        load_config(tmp_path / "plugins.toml", env={"PAPERCHAIN_BLOB_URL": "s3://x"})
    assert load_config(None, env={}).kernel.blob_url == ""  # the default: the data directory's disk


def test_a_missing_bucket_stops_startup_naming_it(s3_blob_url, paperchain_kernel):
    missing = s3_blob_url.replace("s3://paperchain-test", "s3://no-such", 1)
    with pytest.raises(ConfigError) as caught:
        paperchain_kernel(config={"paperchain": {"blob_url": missing}})
    assert "does not exist" in caught.value.message and "no-such" in caught.value.message
    assert "aws s3 mb" in caught.value.hint


def test_an_endpoint_where_nothing_answers_stops_startup(s3_blob_url):
    with socket.socket() as probe:  # a free loopback port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        check_bucket(f"s3://bucket?endpoint=http://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in caught.value.message and "endpoint=" in caught.value.hint


def test_a_kernel_with_its_blobs_in_a_bucket_runs_a_workflow(paperchain_kernel, s3_blob_url, tmp_path):
    harness = paperchain_kernel(config={"paperchain": {"blob_url": s3_blob_url}})
    kernel = harness.kernel
    assert isinstance(kernel.blobs, S3BlobStore)
    source = tmp_path / "letter.txt"
    source.write_text("Dear reader, this text lives in a bucket.")
    document = harness.call(kernel.documents.ingest(source))
    client, bucket = _bucket(s3_blob_url)
    stored = [o["Key"].rsplit("/", 1)[-1] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(key.startswith(document.id) for key in stored)
    kernel.blobs.plain.drop(document.id)  # the workflow reads it back from the bucket
    outcome = harness.run({"name": "read", "steps": [{"id": "t", "uses": "document.text"}]}, files=[source])
    run = outcome.runs[0]
    assert run.succeeded, run.error
    assert run.steps["t"].outputs["characters"] == len(source.read_text())
    texts = dict(harness.call(kernel.document_texts(limit=5)))
    assert texts[document.id] == "Dear reader, this text lives in a bucket."
    assert not (harness.config.data_dir / "blobs").exists() or not any((harness.config.data_dir / "blobs").glob("??"))
