"""The kernel's read methods for plugins (kernel_reads.py), on SQLite and PostgreSQL: answers by
column name, and the operator's threshold query kept to reading."""

from __future__ import annotations

import pytest
from api_support import TestPlugin

from paperchain import kernel_reads


@pytest.fixture
def harness(paperchain_kernel):
    return paperchain_kernel(TestPlugin())


def test_reads_of_batches_runs_and_documents(harness, tmp_path):
    k = harness.kernel
    for name, text in (("a.txt", "alpha"), ("b.txt", "beta")):
        (tmp_path / name).write_text(text)
    outcome = harness.run({"name": "echo", "inputs": {"value": {"default": "v"}},
                           "steps": [{"id": "e", "uses": "test.wait", "with": {"seconds": 0}}]},
                          files=[tmp_path / "a.txt", tmp_path / "b.txt"], inputs={"value": "w"})

    async def scenario():
        return (await k.batch(outcome.id), await k.batch("no-such-batch"), await k.run(outcome.runs[1].id),
                await k.run("no-such-run"), await k.run_statuses(outcome.id), await k.document_texts(limit=5),
                await k.document_texts(limit=1))

    batch, no_batch, run, no_run, statuses, texts, first = harness.call(scenario())
    assert batch == {"id": outcome.id, "workflow": "echo", "status": "succeeded", "inputs": {"value": "w"},
                     "tenant": ""}
    assert no_batch is None and no_run is None
    assert run == {"id": outcome.runs[1].id, "batch_id": outcome.id, "workflow": "echo",
                   "document_id": outcome.runs[1].document_id, "status": "succeeded"}
    assert statuses == ["succeeded", "succeeded"]
    # No text extractor is loaded here: the documents are there, without text.
    assert sorted(texts) == sorted((r.document_id, None) for r in outcome.runs)
    assert first == texts[:1]


def test_the_operator_query_counts_with_named_parameters(harness):
    k = harness.kernel

    async def scenario():
        for _ in range(3):
            await k.emit("test.alarm", "x", {}, durable=True)
        return (await k.query_number("SELECT count(*) FROM events WHERE type = :type", {"type": "test.alarm"}),
                await k.query_number("SELECT max(seq) FROM events WHERE type = :type", {"type": "none"}),
                await k.count_events("test.alarm", since="2000-01-01", until="2999-01-01"))

    counted, nothing, events = harness.call(scenario())
    assert counted == 3.0 and nothing is None and events == 3


@pytest.mark.parametrize("query", [
    "DELETE FROM events",
    "UPDATE events SET type = 'gone'",
    "SELECT count(*) FROM no_such_table",
    "SELECT count(*) FROM events WHERE type = :missing",
    "SELEC 1",
])
def test_the_operator_query_fails_with_the_database_message_and_changes_nothing(harness, query):
    k = harness.kernel

    async def scenario():
        await k.emit("test.kept", "x", {}, durable=True)
        with pytest.raises(ValueError) as raised:
            await k.query_number(query, {})
        return str(raised.value), await k.count_events("test.kept", since="2000-01-01", until="2999-01-01")

    message, kept = harness.call(scenario())
    assert message and "Traceback" not in message and "sqlalche.me" not in message
    assert kept == 1


def test_a_slow_operator_query_is_cancelled_on_postgresql(harness, monkeypatch):
    k = harness.kernel
    if k.sql.dialect != "postgresql":
        pytest.skip("SQLite's read-only connection has no statement timeout")
    monkeypatch.setattr(kernel_reads, "QUERY_TIMEOUT_MS", 200)
    with pytest.raises(ValueError, match="statement timeout"):
        harness.call(k.query_number("SELECT count(*) FROM pg_sleep(5)", {}))
