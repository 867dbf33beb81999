"""The log: receipts verify offline, checkpoints are refused when they should be, tampering is
found, appends are durable and shared between concurrent writers."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading

import pytest
import sqlalchemy as sa

from paperchain_ledger import merkle, storage, tiles
from paperchain_ledger.integrity import verify_log
from paperchain_ledger.log import LedgerLog
from paperchain_ledger.note import Checkpoint, generate_signer
from paperchain_ledger.verifier import (
    VerificationError,
    verify_extension,
    verify_receipt,
)
from paperchain_sdk import ConfigError, InputError, NotFoundError


def vkey(log):
    return (log.directory / "log.vkey").read_text()


def test_the_key_is_created_once_and_private(tmp_path):
    first = LedgerLog.open(tmp_path / "l")
    key = vkey(first)
    first.close()
    assert stat.S_IMODE((tmp_path / "l" / "log.key").stat().st_mode) == 0o600
    again = LedgerLog.open(tmp_path / "l")
    assert vkey(again) == key and str(again.signer.verifier) + "\n" == key
    again.close()
    os.chmod(tmp_path / "l" / "log.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        LedgerLog.open(tmp_path / "l")


def test_a_receipt_verifies_offline_and_a_tampered_one_does_not(log):
    log.append_many([b"x%d" % i for i in range(10)])
    receipt = log.append(b"the entry")
    summary = verify_receipt(json.dumps(receipt), vkey(log))
    assert summary["index"] == 10 and summary["tree_size"] == 11
    forged = dict(receipt, entry=base64.b64encode(b"another entry").decode())
    with pytest.raises(VerificationError, match="not proven"):
        verify_receipt(forged, vkey(log))
    moved = dict(receipt, index=9)
    with pytest.raises(VerificationError):
        verify_receipt(moved, vkey(log))
    note = receipt["checkpoint"].replace("\n11\n", "\n12\n")
    with pytest.raises(VerificationError, match="not valid"):
        verify_receipt(dict(receipt, checkpoint=note), vkey(log))


def test_a_checkpoint_signed_by_another_key_is_refused(log, tmp_path):
    receipt = log.append(b"entry")
    other = LedgerLog.open(tmp_path / "other")
    try:
        with pytest.raises(VerificationError, match="not signed by"):
            verify_receipt(receipt, vkey(other))
        # Same name, another key: the key id differs, so it is refused too.
        impostor, _ = generate_signer(log.origin)
        forged = Checkpoint(log.origin, 1, log.root()).sign(impostor)
        with pytest.raises(VerificationError, match="not signed by"):
            verify_receipt(dict(receipt, checkpoint=forged), vkey(log))
    finally:
        other.close()


def test_a_checkpoint_that_does_not_extend_an_earlier_one_is_refused(log):
    log.append_many([b"a", b"b", b"c"])
    earlier = log.latest()[2]
    log.append_many([b"d", b"e"])
    later = log.latest()[2]
    proof = [base64.b64encode(p).decode() for p in log.consistency_proof(3, 5)]
    old, new = verify_extension(earlier, later, proof, vkey(log))
    assert (old.size, new.size) == (3, 5)
    # A forked log: same key, but entries rewritten after size 2.
    forked_root = merkle.root_of_hashes(merkle.leaf_hashes([b"a", b"b", b"X", b"d", b"e"]))
    fork = Checkpoint(log.origin, 5, forked_root).sign(log.signer)
    with pytest.raises(VerificationError, match="not an extension"):
        verify_extension(earlier, fork, proof, vkey(log))
    with pytest.raises(VerificationError, match="smaller"):
        verify_extension(later, earlier, proof, vkey(log))
    receipt = log.receipt(4)
    verify_receipt(receipt, vkey(log), earlier_checkpoint=earlier, consistency_proof=proof)
    with pytest.raises(VerificationError):
        verify_receipt(receipt, vkey(log), earlier_checkpoint=earlier, consistency_proof=proof[:-1])


def test_the_log_survives_a_restart(tmp_path):
    first = LedgerLog.open(tmp_path / "l")
    first.append_many([b"%d" % i for i in range(700)])
    root, size = first.root(), first.size
    first.close()
    again = LedgerLog.open(tmp_path / "l")
    try:
        assert (again.size, again.root()) == (size, root)
        receipt = again.append(b"after restart")
        assert verify_receipt(receipt, vkey(again))["tree_size"] == 701
        assert again.root(700) == root
    finally:
        again.close()


def test_concurrent_appenders_share_commits(log):
    receipts, errors = [], []

    def writer(n):
        try:
            for i in range(20):
                receipts.append(log.append(b"writer %d entry %d" % (n, i)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and log.size == 400
    assert sorted(r["index"] for r in receipts) == list(range(400))
    key = vkey(log)
    for r in receipts:
        verify_receipt(r, key)
    commits = log.read(sa.select(sa.func.count()).select_from(storage.checkpoints))[0][0] - 1
    assert commits < 400  # group commit: several appends shared a transaction
    assert verify_log(log.directory, log.database).ok


def test_idempotency_key_appends_once(log):
    first = log.append_many([b"once"], key="run-1:notarize")
    again = log.append_many([b"once"], key="run-1:notarize")
    assert again.existed and again.first == first.first and log.size == 1


def test_bad_requests_are_clear(log):
    with pytest.raises(NotFoundError):
        log.entry(0)
    log.append_many([b"a"])
    with pytest.raises(NotFoundError):
        log.inclusion_proof(1)
    with pytest.raises(NotFoundError):
        log.root(5)
    with pytest.raises(InputError):
        log.consistency_proof(0, 1)
    with pytest.raises(InputError):
        log.append_many(["text, not bytes"])


def _tamper(log, table, column, where, change) -> None:
    """Change one stored blob behind the log's back (as damage on disk would)."""
    with log.database.connect(write=True) as conn:
        conn.begin()
        blob = bytearray(conn.execute(sa.select(column).where(where)).scalar())
        change(blob)
        conn.execute(sa.update(table).where(where).values({column.name: bytes(blob)}))
        conn.commit()


def _flip_entry_byte(log, index):
    def flip(blob):
        start, _ = tiles.entry_span(bytes(blob), index & 255)
        blob[start + 2] ^= 0x01  # a byte inside the entry

    _tamper(log, storage.bundles, storage.bundles.c.data, storage.bundles.c.idx == index >> 8, flip)


@pytest.mark.parametrize("victim", [0, 300, 1234, 1299])
def test_verify_finds_a_flipped_byte(log, victim):
    for start in range(0, 1300, 100):
        log.append_many([b"entry number %05d" % i for i in range(start, start + 100)])
    assert verify_log(log.directory, log.database).ok
    _flip_entry_byte(log, victim)
    report = verify_log(log.directory, log.database)
    assert not report.ok and report.first_bad_entry == victim


def test_verify_finds_an_altered_tree_node(log):
    log.append_many([b"%d" % i for i in range(600)])
    tile = storage.tiles

    def alter(blob):
        blob[-1] ^= 0xFF  # the last inner node of the second tile

    _tamper(log, tile, tile.c.hashes, sa.and_(tile.c.level == 0, tile.c.idx == 1), alter)
    report = verify_log(log.directory, log.database)
    assert not report.ok and report.first_bad_entry == 256


def test_the_writers_receipt_equals_one_built_later(log):
    log.append_many([b"r%d" % i for i in range(300)])
    receipt = log.append(b"the last one")
    assert receipt["index"] == 300
    assert receipt == log.receipt(300, tree_size=301)
    assert verify_receipt(receipt, str(log.signer.verifier))["tree_size"] == 301


def test_queued_batches_commit_in_order_with_checked_items_between(log):
    """Unchecked batches are built ahead of their commits; a checked item in between waits for
    them. Every answer, the tree and the stored rows must agree with one batch at a time."""
    from paperchain_ledger.log import Pending

    entries = [b"q%d" % i for i in range(3000)]
    futures = []
    for at in range(0, 3000, 300):
        futures.append(log.submit(Pending(entries[at:at + 300])))
        if at == 900:
            futures.append(log.submit(Pending([b"checked"], key="k-1")))
    answers = [f.result() for f in futures]
    firsts = [a.first for a in answers]
    assert firsts == sorted(firsts) and log.size == 3001
    expected = entries[:1200] + [b"checked"] + entries[1200:]
    assert [log.entry(i) for i in (0, 1199, 1200, 1201, 3000)] == [expected[i] for i in (0, 1199, 1200, 1201, 3000)]
    assert log.root() == merkle.root_of_hashes(merkle.leaf_hashes(expected))
    for a in answers:
        assert log.checkpoint_at(a.size) == a.note
    assert verify_log(log.directory, log.database).ok


def test_a_failed_commit_fails_its_batch_and_the_log_goes_on(tmp_path):
    """A batch whose commit fails is answered with a TransientError; batches built on top of it
    are refused too (never committed on a tree that does not exist); the log then goes on."""
    from paperchain_ledger.log import Pending
    from paperchain_sdk import TransientError

    log = LedgerLog.open(tmp_path / "flaky", max_batch=300)
    try:
        log.append_many([b"a", b"b"])
        real, calls = log._write_rows, []

        def flaky(cur, work):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("disk I/O error (simulated)")
            real(cur, work)

        log._write_rows = flaky
        batches = [[b"b%d-%d" % (n, i) for i in range(300)] for n in range(4)]
        futures = [log.submit(Pending(batch)) for batch in batches]
        committed = [b"a", b"b"]
        outcomes = []
        for batch, future in zip(batches, futures):
            try:
                done = future.result()
            except TransientError:
                outcomes.append("failed")
                continue
            assert done.first == len(committed)
            committed += batch
            outcomes.append("ok")
        assert outcomes[0] == "ok" and outcomes[1] == "failed"
        del log._write_rows
        log.append_many([b"after"])
        committed.append(b"after")
        assert log.size == len(committed)
        assert log.root() == merkle.root_of_hashes(merkle.leaf_hashes(committed))
        assert log.entry(len(committed) - 1) == b"after"
    finally:
        log.close()
    assert verify_log(tmp_path / "flaky").ok


# The tables as the log made them itself before Alembic (paperchain_ledger.log, 2026).
_BEFORE_ALEMBIC = """
CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ledger_bundles (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE ledger_tiles (id INTEGER PRIMARY KEY, level INTEGER NOT NULL, idx INTEGER NOT NULL,
    width INTEGER NOT NULL, hashes BLOB NOT NULL);
CREATE TABLE ledger_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE ledger_keys (key TEXT PRIMARY KEY, idx INTEGER NOT NULL);
CREATE TABLE ledger_documents (sha256 TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (sha256, idx)) WITHOUT ROWID;
CREATE TABLE ledger_accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key BLOB NOT NULL,
    secret TEXT, balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0), nonce INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL, created TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '', UNIQUE (tenant, name));
CREATE TABLE ledger_votes (ballot TEXT NOT NULL, account TEXT NOT NULL, choice TEXT NOT NULL,
    idx INTEGER NOT NULL, PRIMARY KEY (ballot, account)) WITHOUT ROWID;
CREATE TABLE ledger_anchors (audit_id TEXT PRIMARY KEY, idx INTEGER NOT NULL);
CREATE TABLE ledger_owners (idx INTEGER PRIMARY KEY, tenant TEXT NOT NULL);
"""


def test_a_ledger_file_made_before_alembic_is_taken_over_with_its_entries(tmp_path):
    import sqlite3

    directory = tmp_path / "ledger"
    log = LedgerLog.open(directory)
    log.append_many([b"kept %d" % i for i in range(300)])
    receipt = log.append(b"the last")
    root = log.root()
    log.close()
    # Make the file what the log wrote before Alembic: the same rows in its hand-made tables.
    old = sqlite3.connect(directory / "ledger.db")
    for (name,) in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        old.execute(f"ALTER TABLE {name} RENAME TO saved_{name}")
    old.executescript(_BEFORE_ALEMBIC)
    for (name,) in old.execute("SELECT name FROM sqlite_master WHERE name LIKE 'saved_ledger_%'").fetchall():
        if name != "saved_ledger_alembic_version":
            old.execute(f"INSERT INTO {name.removeprefix('saved_')} SELECT * FROM {name}")
        old.execute(f"DROP TABLE {name}")
    old.commit()
    old.close()
    again = LedgerLog.open(directory)
    try:
        assert again.size == 301 and again.root() == root
        assert again.receipt(300) == receipt
        with again.database.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM ledger_alembic_version").scalar() == "0001"
        again.append(b"and one more")
    finally:
        again.close()
    assert verify_log(directory).ok


def test_a_reopened_log_continues_its_tree(tmp_path, database_url):
    url = None if database_url.startswith("sqlite") else database_url
    first = LedgerLog.open(tmp_path / "l", url=url, max_batch=100)
    entries = [b"e%d" % i for i in range(700)]
    first.append_many(entries[:333])
    first.close()
    again = LedgerLog.open(tmp_path / "l", url=url)  # its frontier comes back from the edge tiles
    try:
        again.append_many(entries[333:])
        assert again.root() == merkle.root_of_hashes(merkle.leaf_hashes(entries))
        assert again.entry(400) == entries[400]
        assert verify_log(again.directory, again.database).ok
    finally:
        again.close()


def test_two_writers_on_one_log_take_turns_and_keep_one_tree(tmp_path, database_url):
    """Two processes appending to one log (API servers on one database; here two logs on it, as
    two processes would open it): each commit takes the log's turn and builds on the stored tree,
    loaded then when the other writer has appended. Every append succeeds, plain and checked,
    interleaved one at a time and from many threads at once; every answer names its own entry,
    every receipt verifies against the final tree and the tree grows consistently."""
    url = None if database_url.startswith("sqlite") else database_url
    one = LedgerLog.open(tmp_path / "l", url=url)
    two = LedgerLog.open(tmp_path / "l", url=url)
    try:
        one.append_many([b"one %d" % i for i in range(300)])
        assert two.append(b"two 0")["index"] == 300  # built on one's tree, not on its own empty one
        early_size, _, early_note = two.latest()
        assert one.append_many([b"one checked"], key="checked").first == 301  # a checked batch too
        assert two.append_many([b"two again"], key="checked").existed  # the key one wrote is seen

        answered, errors = [], []

        def appender(log, name):
            try:
                for i in range(30):
                    entry = b"%s thread entry %d" % (name, i)
                    answered.append((entry, log.append(entry)))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=appender, args=(log, b"%s-%d" % (tag, n)))
                   for n in range(4) for log, tag in ((one, b"one"), (two, b"two"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        last = one.append(b"the last")  # one's tree is now the stored one, with everything
        size = last["index"] + 1
        assert size == 302 + len(answered) + 1 == one.size
        assert sorted(r["index"] for _, r in answered) == list(range(302, 302 + len(answered)))
        stored = [one.entry(i) for i in range(size)]
        assert one.root() == merkle.root_of_hashes(merkle.leaf_hashes(stored))
        key = vkey(one)
        for entry, receipt in answered:
            assert stored[receipt["index"]] == entry
            verify_receipt(receipt, key)  # against the tree its writer committed
            verify_receipt(one.receipt(receipt["index"]), key)  # and against the final tree
        proof = [base64.b64encode(h).decode() for h in one.consistency_proof(early_size)]
        verify_extension(early_note, one.latest()[2], proof, key)
        assert verify_log(one.directory, one.database).ok
        assert two.append(b"and two goes on")["index"] == size
    finally:
        one.close()
        two.close()
