"""The master key, per-tenant keys, rotation, and encrypting a data directory made before."""

import base64
import hashlib
import os
import threading

import pytest
import sqlite_utils

from paperchain.cli.main import main
from paperchain.store.blobs import DiskBlobStore
from paperchain.store.keys import KeyringThread, fingerprint
from paperchain.store.schema import MIGRATIONS
from paperchain_sdk import InputError


@pytest.fixture(autouse=True)
def no_master_key_in_the_environment(monkeypatch):
    monkeypatch.delenv("PAPERCHAIN_MASTER_KEY", raising=False)
    monkeypatch.delenv("PAPERCHAIN_NEW_MASTER_KEY", raising=False)
    monkeypatch.delenv("PAPERCHAIN_CONFIG", raising=False)


@pytest.fixture
def keyrings(tmp_path, database_url):
    """Keyrings of one data directory on the test's database (SQLite, then PostgreSQL)."""
    loop = KeyringThread(tmp_path, database_url)
    yield loop
    loop.close()


def test_the_key_file_is_made_private_and_a_shared_one_is_refused(keyrings):
    ring = keyrings.open()
    assert ring.key_file.stat().st_mode & 0o777 == 0o600
    ring.key_file.chmod(0o644)
    with pytest.raises(InputError, match="may be read by other users") as caught:
        keyrings.open()
    assert caught.value.hint == f"chmod 600 {ring.key_file}"


def test_a_master_key_from_the_environment_and_a_wrong_one(keyrings, monkeypatch):
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", key)
    ring = keyrings.open()
    assert not ring.key_file.exists()
    data_key = ring.data_key("acme")[1]
    assert keyrings.open().data_key("acme", 1)[1] == data_key
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(InputError, match="wrapped by master key") as caught:
        keyrings.open()
    assert "PAPERCHAIN_MASTER_KEY" in caught.value.hint
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", "too short")
    with pytest.raises(InputError, match="is not a master key"):
        keyrings.open()


def test_rotating_the_master_key_keeps_every_blob_readable(keyrings, tmp_path):
    ring = keyrings.open()
    store = DiskBlobStore(tmp_path / "blobs", keyring=ring, encrypt=True)
    digest = store.put_bytes(b"kept across rotations", tenant="acme")[0]
    old = fingerprint(ring.master)
    new, count = keyrings.run(ring.rotate_master())
    assert new != old and count == 2 and not ring.key_file.with_name("master.key.new").exists()
    store.close()
    reopened = DiskBlobStore(tmp_path / "blobs", keyring=keyrings.open(), encrypt=True)
    assert reopened.read_bytes(digest) == b"kept across rotations"
    assert fingerprint(reopened.keyring.master) == new
    reopened.close()


def test_a_rotation_stopped_before_the_database_changed_is_undone(keyrings):
    ring = keyrings.open()
    ring.data_key("")
    pending = ring.key_file.with_name("master.key.new")
    pending.write_text(base64.b64encode(os.urandom(32)).decode())
    pending.chmod(0o600)
    again = keyrings.open()
    assert not pending.exists() and fingerprint(again.master) == fingerprint(ring.master)


def test_rotating_an_environment_master_key_needs_the_new_one(keyrings, monkeypatch):
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    ring = keyrings.open()
    with pytest.raises(InputError, match="the new one must too"):
        keyrings.run(ring.rotate_master())


def test_two_keyrings_making_a_tenants_key_at_once_agree_on_one(keyrings):
    """Two processes (two keyrings) that both make a tenant's id key keep the one stored first."""
    first, second = keyrings.open(), keyrings.open()
    start, ids = threading.Barrier(2), {}

    def make(name, ring):
        start.wait()
        ids[name] = ring.document_id("acme", "ab" * 32)

    threads = [threading.Thread(target=make, args=(name, ring)) for name, ring in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids["a"] == ids["b"] == keyrings.open().document_id("acme", "ab" * 32)
    assert keyrings.run(first.tenants()) == ["", "acme"]  # the deployment's data key, made at open, and acme's


def test_a_new_key_is_not_made_on_the_event_loop(keyrings):
    """Waiting there for the write would stop the loop that runs it: a clear error instead."""
    ring = keyrings.open()

    async def on_the_loop():
        return ring.data_key("globex")

    with pytest.raises(RuntimeError, match="worker thread"):
        keyrings.run(on_the_loop())
    assert ring.data_key("globex")[0] == 1  # from a thread of its own, as the blob store calls it


def _legacy_data_directory(root, content: bytes) -> str:
    """A data directory as the version before keyed ids and encryption left it."""
    data = root / ".paperchain"
    data.mkdir()
    db = sqlite_utils.Database(data / "paperchain.db")
    for migration in MIGRATIONS[:2]:
        migration(db)
    db.execute("PRAGMA user_version = 2")
    digest = hashlib.sha256(content).hexdigest()
    db["documents"].insert({"id": digest, "name": "old.txt", "media_type": "text/plain", "size": len(content),
                            "created": "2026-01-01T00:00:00+00:00", "metadata": "{}", "tags": "[]", "tenant": "acme"})
    db.conn.commit()
    db.close()
    blob = data / "blobs" / digest[:2] / digest[2:4] / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    return digest


def test_encrypt_existing_then_rotate_data_keys_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    content = b"a document from before encryption"
    digest = _legacy_data_directory(tmp_path, content)
    blob = tmp_path / ".paperchain" / "blobs" / digest[:2] / digest[2:4] / digest

    assert main(["keys", "status"]) == 0
    shown = capsys.readouterr().out
    assert "NOT encrypted" in shown and "0 encrypted, 1 not encrypted" in shown  # an old directory stays as it was

    assert main(["keys", "encrypt-existing"]) == 0
    assert "Encrypted 1 blob(s)" in capsys.readouterr().out
    encrypted = blob.with_name(digest + ".pce")
    assert not blob.exists() and encrypted.exists() and content not in encrypted.read_bytes()

    assert main(["keys", "rotate", "--data-keys"]) == 0
    out = capsys.readouterr().out
    assert "1 blob(s) re-encrypted" in out and "rewrapped" in out

    loop = KeyringThread(tmp_path / ".paperchain")
    ring = loop.open()
    store = DiskBlobStore(tmp_path / ".paperchain" / "blobs", keyring=ring, encrypt=True)
    assert store.key_version(digest) == ("acme", 2)  # under the document's tenant, newest key
    assert store.read_bytes(digest) == content
    store.close()
    loop.close()
    assert main(["keys", "status"]) == 0
    assert "new blobs are encrypted" in capsys.readouterr().out


@pytest.mark.slow
def test_a_wrong_master_key_is_a_clear_error_and_the_command_ends(tmp_path):
    from kernel_support import run_cli

    loop = KeyringThread(tmp_path / ".paperchain")
    loop.open()  # a data directory with a key, wrapped by its key file
    loop.close()
    wrong = base64.b64encode(os.urandom(32)).decode()
    result = run_cli("documents", "list", cwd=tmp_path, env={"PAPERCHAIN_MASTER_KEY": wrong}, timeout=60)
    assert result.returncode == 2
    assert "wrapped by master key" in result.stderr and "PAPERCHAIN_MASTER_KEY" in result.stderr
