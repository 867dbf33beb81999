"""Ingesting documents: content-addressed, deduplicated, type-checked, searchable."""

import re

import pytest

from paperchain_sdk import InputError


def test_same_content_twice_is_stored_once(paperchain_kernel, tmp_path):
    harness = paperchain_kernel()
    (tmp_path / "a.txt").write_text("identical bytes")
    (tmp_path / "b.txt").write_text("identical bytes")
    first = harness.call(harness.kernel.documents.ingest(tmp_path / "a.txt"))
    second = harness.call(harness.kernel.documents.ingest(tmp_path / "b.txt"))
    assert first.id == second.id
    blobs = [p for p in (harness.kernel.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].read_text() == "identical bytes"


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


def test_missing_and_unreadable_files(paperchain_kernel, tmp_path):
    harness = paperchain_kernel()
    with pytest.raises(InputError, match="does not exist"):
        harness.call(harness.kernel.documents.ingest(tmp_path / "nope.txt"))
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        import os
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who can read anything (root)")
        with pytest.raises(InputError, match="permission denied"):
            harness.call(harness.kernel.documents.ingest(locked))
    finally:
        locked.chmod(0o600)
