"""Ingesting documents: content-addressed, deduplicated, type-checked, searchable."""

import os
import re
import shutil
import subprocess
import sys

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
