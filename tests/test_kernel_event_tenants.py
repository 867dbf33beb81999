"""Which tenant an event belongs to (tenancy.py), on SQLite and PostgreSQL: told for rows the
journal has only queued when the event goes out, as a document's insert is."""

from __future__ import annotations

import pytest

from paperchain_sdk import Event


@pytest.fixture
def harness(paperchain_kernel):
    return paperchain_kernel()


def test_a_queued_rows_tenant_is_told_for_its_event(harness):
    k = harness.kernel

    async def scenario():
        # Queued, not awaited: the event is told before the journal commits the rows.
        k.journal.upsert("documents", {"id": "doc-1", "name": "a.txt", "tenant": "acme"})
        k.journal.upsert("batches", {"id": "batch-1", "tenant": "globex"})
        k.journal.upsert("runs", {"id": "run-1", "batch_id": "batch-1", "seq": 0, "idempotency_key": "batch-1:0"})
        return [await k.event_tenant(Event(type=kind, subject=subject, seq=n))
                for n, (kind, subject) in enumerate((("document.ingested", "doc-1"), ("run.started", "run-1"),
                                                     ("batch.created", "batch-1"), ("document.ingested", "none")))]

    assert harness.call(scenario()) == ["acme", "globex", "globex", None]
