"""Two kernels (two API servers, each its own data directory) on one PostgreSQL database share the
ledger's log: audit anchors and appends from both succeed, interleaved, and every receipt, from
either, verifies against either's key and the final tree."""

from __future__ import annotations

import base64
import os

import pytest

import paperchain_ledger
from paperchain_ledger import merkle, runtime
from paperchain_ledger.integrity import verify_log
from paperchain_ledger.verifier import verify_receipt

pytestmark = pytest.mark.postgres


def _audit(n: int) -> dict:
    return {"id": str(n), "time": "2026-01-01T00:00:00Z", "actor": "ann", "action": "documents.upload",
            "target": f"doc-{n}", "ip": "127.0.0.1", "outcome": "ok", "status": 201}


def test_two_kernels_append_to_one_log(paperchain_kernel, paperchain_postgres, monkeypatch):
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())  # one per deployment
    url = paperchain_postgres.create_database()
    kernels = [paperchain_kernel(paperchain_ledger, config={"paperchain": {"database_url": url}}) for _ in range(2)]
    logs = [runtime.book_for_kernel(h.kernel).log for h in kernels]
    receipts = []
    for n in range(6):  # the kernels take turns: each append lands on a tree the other moved
        harness, log = kernels[n % 2], logs[n % 2]
        harness.call(harness.kernel.emit("audit.recorded", str(n), _audit(n)))
        harness.call(runtime.flush_audit(harness.kernel))  # anchoring used to fail here on the second kernel
        receipts.append(log.append(b"entry %d from kernel %d" % (n, n % 2)))
    assert [r["index"] for r in receipts] == [1, 3, 5, 7, 9, 11]  # each after its kernel's audit anchor
    final = logs[1]
    final.append(b"the last")
    stored = [final.entry(i) for i in range(final.size)]
    assert final.size == 13 and final.root() == merkle.root_of_hashes(merkle.leaf_hashes(stored))
    for log in logs:
        key = str(log.signer.verifier)
        for receipt in receipts:
            verify_receipt(receipt, key)
            verify_receipt(final.receipt(receipt["index"]), key)
        assert verify_log(log.directory, log.database).ok


@pytest.mark.parametrize("local_key_first", [False, True])
def test_logs_in_other_folders_sign_with_the_one_key_in_the_database(tmp_path, paperchain_postgres, local_key_first):
    from paperchain_ledger.log import LedgerLog
    from paperchain_sdk import ConfigError

    url, secret = paperchain_postgres.create_database(), os.urandom(32)
    if local_key_first:  # a server that signed alone before: its own key becomes the shared one
        LedgerLog.open(tmp_path / "a", url=url).close()
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "log.key").write_bytes(b"stale")  # replaced by the stored key, kept aside
        (tmp_path / "b" / "log.key").chmod(0o600)
    own = (tmp_path / "a" / "log.key").read_bytes() if local_key_first else None
    a = LedgerLog.open(tmp_path / "a", url=url, key_secret=secret)
    b = LedgerLog.open(tmp_path / "b", url=url, key_secret=secret)
    try:
        assert (tmp_path / "a" / "log.vkey").read_text() == (tmp_path / "b" / "log.vkey").read_text()
        assert (tmp_path / "b" / "log.key").read_bytes() == (tmp_path / "a" / "log.key").read_bytes()
        if local_key_first:
            assert (tmp_path / "a" / "log.key").read_bytes() == own
            assert (tmp_path / "b" / "log.key.replaced").read_bytes() == b"stale"
        verify_receipt(b.append(b"signed by b"), (tmp_path / "a" / "log.vkey").read_text())
        with pytest.raises(ConfigError, match="PAPERCHAIN_MASTER_KEY"):
            LedgerLog.open(tmp_path / "c", url=url, key_secret=os.urandom(32))
    finally:
        a.close()
        b.close()
