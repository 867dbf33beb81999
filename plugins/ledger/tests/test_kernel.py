"""Inside a real kernel: the notarize and verify steps, audit anchoring, the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlalchemy as sa

import paperchain_ledger
from paperchain_ledger import runtime, tiles
from paperchain_ledger.integrity import verify_log
from paperchain_ledger.verifier import verify_receipt
from paperchain_sdk.testing import check_plugin

WORKFLOW = {"name": "notary", "steps": [
    {"id": "notarize", "uses": "ledger.notarize", "with": {"metadata": {"dept": "legal"}}},
    {"id": "check", "uses": "ledger.verify", "needs": ["notarize"]},
]}


def test_the_plugin_is_registered():
    specs = check_plugin(paperchain_ledger)
    assert set(specs) == {"ledger.merkle", "ledger.notarize", "ledger.verify"}
    assert specs["ledger.notarize"].side_effects


def test_notarize_and_verify_in_a_workflow(paperchain_kernel, paperchain_document, tmp_path):
    harness = paperchain_kernel(paperchain_ledger)
    doc = paperchain_document("contract.txt", "Contract: 12 pages of terms.\n")
    outcome = harness.run(WORKFLOW, files=[doc.path])
    assert outcome.succeeded, outcome
    run = outcome.runs[0]
    outputs = run.steps["check"].outputs
    assert outputs["found"] and outputs["sha256"] == doc.id
    receipt_file = next(a for a in run.artifacts if a.name == "contract.receipt.json")
    receipt = json.loads(harness.kernel.blobs.read_bytes(receipt_file.sha256))
    key = (harness.kernel.data_dir / "ledger" / "log.vkey").read_text()
    summary = verify_receipt(receipt, key)
    entry = json.loads(__import__("base64").b64decode(receipt["entry"]))
    assert entry["sha256"] == doc.id and entry["metadata"]["dept"] == "legal"
    assert summary["entry_sha256"]

    missing = harness.run({"name": "look", "steps": [
        {"id": "check", "uses": "ledger.verify", "with": {"sha256": "00" * 32}}]}, inputs={})
    assert missing.succeeded and missing.runs[0].steps["check"].outputs["found"] is False
    refused = harness.run({"name": "look2", "steps": [
        {"id": "check", "uses": "ledger.verify", "with": {"sha256": "00" * 32, "fail_if_missing": True}}]}, inputs={})
    assert not refused.succeeded and "not in the ledger" in refused.runs[0].steps["check"].error


def test_a_retried_notarize_step_appends_once(paperchain_kernel, paperchain_document):
    from paperchain_sdk import RunContext

    harness = paperchain_kernel(paperchain_ledger)
    doc = paperchain_document("a.txt", "once")
    step = harness.kernel.component("ledger.notarize")  # bound to its kernel at start-up
    ctx = RunContext(run_id="r1", step_id="notarize", workflow="w", idempotency_key="r1:notarize", document=doc,
                     work_dir=str(harness.kernel.data_dir / "work"))
    options = paperchain_ledger.NotarizeSettings()
    first = step.run(ctx, options)
    second = step.run(ctx, options)  # the engine retries a step with the same idempotency key
    assert first.outputs["index"] == second.outputs["index"]
    assert runtime.book_for_kernel(harness.kernel).log.size == 1


def test_audit_events_are_anchored_in_batches(paperchain_kernel):
    harness = paperchain_kernel(paperchain_ledger)
    entries = [{"id": str(i), "time": "2025-01-01T00:00:00Z", "actor": "ann", "action": "documents.upload",
                "target": f"doc-{i}", "ip": "127.0.0.1", "outcome": "ok", "status": 201} for i in range(25)]
    for data in entries:
        harness.call(harness.kernel.emit("audit.recorded", data["id"], data))
    harness.call(harness.kernel.emit("run.started", "r", {}))  # other events are ignored
    harness.call(runtime.flush_audit(harness.kernel))
    book = runtime.book_for_kernel(harness.kernel)
    assert book.log.size == 1  # one entry for the whole batch
    anchored = json.loads(book.log.entry(0))
    assert anchored["kind"] == "audit" and anchored["entries"] == entries
    receipt = book.audit_anchor("7")
    verify_receipt(receipt, str(book.log.signer.verifier))
    # Entries recorded just before shutdown are appended by the shutdown hook.
    harness.call(harness.kernel.emit("audit.recorded", "late", dict(entries[0], id="late")))
    directory = harness.kernel.data_dir / "ledger"
    harness.call(harness.kernel.close())
    db = sqlite3.connect(directory / "ledger.db")
    assert db.execute("SELECT idx FROM ledger_anchors WHERE audit_id = 'late'").fetchone() == (1,)
    db.close()


@pytest.mark.slow
def test_cli_verify_and_verify_receipt(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from paperchain_ledger.cli import ledger
    from paperchain_ledger.log import LedgerLog

    log = LedgerLog.open(tmp_path / "ledger")
    log.append_many([b"entry %d" % i for i in range(600)])
    receipt = log.append(b"the one")
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    key_file = log.directory / "log.vkey"
    log.close()
    runner = CliRunner()
    ok = runner.invoke(ledger, ["verify-receipt", str(tmp_path / "receipt.json"), "--key", str(key_file)])
    assert ok.exit_code == 0 and '"valid": true' in ok.output
    bad = dict(receipt, index=3)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused = runner.invoke(ledger, ["verify-receipt", str(tmp_path / "bad.json"), "--key", key_file.read_text().strip()])
    assert refused.exit_code == 1 and refused.output.startswith("INVALID")
    assert runner.invoke(ledger, ["verify", "--path", str(tmp_path / "ledger")]).exit_code == 0
    db = sqlite3.connect(tmp_path / "ledger" / "ledger.db")
    (blob,) = db.execute("SELECT data FROM ledger_bundles WHERE idx = 1").fetchone()
    data = bytearray(blob)
    data[tiles.entry_span(blob, 0)[0] + 3] ^= 0x20  # entry 256's fourth byte
    db.execute("UPDATE ledger_bundles SET data = ? WHERE idx = 1", (bytes(data),))
    db.commit()
    db.close()
    found = runner.invoke(ledger, ["verify", "--path", str(tmp_path / "ledger")])
    assert found.exit_code == 1 and "first bad entry: 256" in found.output
    assert verify_log(tmp_path / "ledger").first_bad_entry == 256


def test_the_kernels_log_is_in_a_database_of_its_own(paperchain_kernel, paperchain_document, database_url):
    """On SQLite <data_dir>/ledger/ledger.db, on PostgreSQL the schema ``ledger``: never among the
    kernel's tables; a workflow's notarization lands there and `paperchain ledger verify` checks it."""
    harness = paperchain_kernel(paperchain_ledger, config={"paperchain": {"database_url": database_url}})
    doc = paperchain_document("deed.txt", "A deed.\n")
    assert harness.run(WORKFLOW, files=[doc.path]).succeeded
    log = runtime.book_for_kernel(harness.kernel).log
    assert log.dialect == harness.kernel.database.dialect and log.size == 1
    ledger_tables = sa.text("SELECT count(*) FROM information_schema.tables WHERE table_name = 'ledger_checkpoints' "
                            "AND table_schema = :schema")
    if log.dialect == "sqlite":
        assert (harness.kernel.data_dir / "ledger" / "ledger.db").is_file()
        with sqlite3.connect(harness.kernel.database.url.database) as kernel_file:
            assert kernel_file.execute("SELECT name FROM sqlite_master WHERE name LIKE 'ledger_%'").fetchall() == []
    else:
        async def schemas():
            async with harness.kernel.database.engine.connect() as conn:
                return [(await conn.execute(ledger_tables, {"schema": s})).scalar() for s in ("ledger", "public")]

        assert harness.call(schemas()) == [1, 0]
    assert verify_log(log.directory, log.database).ok


def test_the_path_setting_keeps_the_log_in_that_folder(paperchain_kernel, tmp_path):
    folder = tmp_path / "elsewhere"
    harness = paperchain_kernel(paperchain_ledger, config={"components": {"ledger.merkle": {"path": str(folder)}}})
    book = runtime.book_for_kernel(harness.kernel)
    book.append(b"kept apart")
    assert book.log.directory == folder and (folder / "ledger.db").is_file() and (folder / "log.vkey").is_file()
    assert not (harness.kernel.data_dir / "ledger" / "ledger.db").exists()
    harness.call(harness.kernel.close())  # closes the log it opened
    assert verify_log(folder).ok and verify_log(folder).size == 1
