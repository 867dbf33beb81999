"""Ingesting documents: content-addressed, deduplicated, type-checked, searchable."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paperchain_sdk import InputError


def test_ids_are_keyed_per_tenant_and_the_digest_is_kept(paperchain_kernel, tmp_path):
    harness = paperchain_kernel()
    documents = harness.kernel.documents
    (tmp_path / "a.txt").write_text("the same bytes")
    digest = hashlib.sha256(b"the same bytes").hexdigest()
    plain = harness.call(documents.ingest(tmp_path / "a.txt"))  # the CLI's ingest: no tenant
    acme = harness.call(documents.ingest(tmp_path / "a.txt", tenant="acme"))
    globex = harness.call(documents.ingest(tmp_path / "a.txt", tenant="globex"))
    assert len({plain.id, acme.id, globex.id, digest}) == 4  # no id gives the content away
    assert plain.sha256 == acme.sha256 == globex.sha256 == digest
    assert harness.call(documents.get(acme.id)).sha256 == digest
    assert harness.call(documents.ingest(tmp_path / "a.txt", tenant="acme")).id == acme.id
    assert len({Path(d.path).name for d in (plain, acme, globex)}) == 3  # three blobs, one per tenant
    key_file = harness.kernel.data_dir / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_search_index_follows_ingest_and_text_on_both_databases(paperchain_kernel, database_url, tmp_path):
    """FTS5's triggers on SQLite, the statements Documents queues beside each write on PostgreSQL."""
    import attrs

    harness = paperchain_kernel()
    documents = harness.kernel.documents
    assert documents.search.backend == harness.kernel.sql.dialect  # the adapter of the kernel's database

    def ids(query, tenant="acme"):
        return {h.id for h in harness.call(documents.search.query(query, tenant))[0]}

    (tmp_path / "harbour-deed.txt").write_text("deed bytes")
    deed = harness.call(documents.ingest(tmp_path / "harbour-deed.txt", tenant="acme"))
    harness.call(harness.kernel.journal.flush())
    assert ids("harbour") == {deed.id} and ids("harbour", "globex") == set()

    async def set_text(text):  # as a step's update is written
        await documents.update(attrs.evolve(await documents.get(deed.id), text=text))

    harness.call(set_text("the lighthouse keeper"))
    assert ids("lighthouse") == {deed.id} and ids("lighthouse", None) == {deed.id}
    (tmp_path / "renamed.txt").write_text("deed bytes")  # the same bytes: the same document, its name kept
    assert harness.call(documents.ingest(tmp_path / "renamed.txt", tenant="acme")).id == deed.id
    harness.call(harness.kernel.journal.flush())
    assert ids("renamed") == set() and ids("harbour lighthouse") == {deed.id}
    assert harness.call(documents.search.count("keeper", "acme")) == 1
    # A row written past Documents (by hand, or before the index existed) is indexed at the next start.
    import sqlalchemy as sa

    from paperchain.store.tables import documents as table

    harness.call(harness.kernel.sql.write(sa.insert(table).values(id="by-hand", tenant="acme", name="ledger.txt",
                                                                  text="a compass and a sextant")))
    harness.call(documents.open())
    assert ids("sextant") == {"by-hand"} and ids("lighthouse") == {deed.id}


def test_a_data_directory_from_before_keyed_ids_keeps_its_documents(paperchain_kernel, tmp_path):
    import sqlite_utils

    from paperchain.store.schema import MIGRATIONS

    data_dir = tmp_path / "kernel-0"  # where the fixture's first kernel lives
    data_dir.mkdir()
    db = sqlite_utils.Database(data_dir / "paperchain.db")
    for migration in MIGRATIONS[:2]:
        migration(db)
    db.execute("PRAGMA user_version = 2")
    content = b"stored by an older paperchain"
    digest = hashlib.sha256(content).hexdigest()
    db["documents"].insert({"id": digest, "name": "old.txt", "media_type": "text/plain", "size": len(content),
                            "created": "2026-01-01T00:00:00+00:00", "metadata": "{}", "tags": "[]"})
    db.conn.commit()
    db.close()
    blob = data_dir / "blobs" / digest[:2] / digest[2:4] / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)

    harness = paperchain_kernel()
    old = harness.call(harness.kernel.documents.get(digest))
    assert old.sha256 == digest and Path(old.path).read_bytes() == content
    (tmp_path / "again.txt").write_bytes(content)
    again = harness.call(harness.kernel.documents.ingest(tmp_path / "again.txt"))
    assert again.id == digest  # the same content in the same (no) tenant is still the same document
    elsewhere = harness.call(harness.kernel.documents.ingest(tmp_path / "again.txt", tenant="acme"))
    assert elsewhere.id != digest


def test_same_content_twice_is_stored_once(paperchain_kernel, tmp_path):
    harness = paperchain_kernel()
    (tmp_path / "a.txt").write_text("identical bytes")
    (tmp_path / "b.txt").write_text("identical bytes")
    first = harness.call(harness.kernel.documents.ingest(tmp_path / "a.txt"))
    second = harness.call(harness.kernel.documents.ingest(tmp_path / "b.txt"))
    assert first.id == second.id
    blobs = [p for p in (harness.kernel.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and b"identical bytes" not in blobs[0].read_bytes()  # encrypted at rest
    assert harness.kernel.blobs.read_bytes(first.id) == b"identical bytes"


@pytest.mark.parametrize("name, content, message", [
    ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "named like application/pdf but its content is image/png"),
    ("photo.jpg", b"%PDF-1.4\n", "named like image/jpeg but its content is application/pdf"),
    ("notes.txt", b"\0\1\2\3" * 10, "named like text but holds binary data"),
    ("empty.txt", b"", "is empty (0 bytes)"),
])
def test_files_that_are_not_what_they_claim_are_refused(paperchain_kernel, tmp_path, name, content, message):
    harness = paperchain_kernel()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=re.escape(message)):
        harness.call(harness.kernel.documents.ingest(tmp_path / name))


def test_missing_files(paperchain_kernel, tmp_path):
    harness = paperchain_kernel()
    with pytest.raises(InputError, match="does not exist"):
        harness.call(harness.kernel.documents.ingest(tmp_path / "nope.txt"))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_an_unreadable_file_fails_its_own_run_with_a_fix(tmp_path):
    # Root reads anything; without the capabilities that bypass file modes it cannot read a
    # file owned by someone else with mode 0600, as any ordinary user could not.
    (tmp_path / "open.txt").write_text("anyone may read this")
    locked = tmp_path / "locked.txt"
    locked.write_text("not for you")
    os.chown(locked, 65534, 65534)
    locked.chmod(0o600)
    (tmp_path / "w.toml").write_text('name = "w"\n[[steps]]\nid = "t"\nuses = "document.text"\n')
    env = {k: v for k, v in os.environ.items() if k != "PAPERCHAIN_CONFIG"}
    result = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--",
         sys.executable, "-m", "paperchain", "run", "w.toml", "open.txt", "locked.txt"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, result.stderr
    assert "#2 locked.txt:" in out and "locked.txt cannot be read (permission denied)" in out
    assert "chmod u+r" in out and "1 failed, 1 succeeded" in out
