"""The analytics' ``finding_terms`` (kept by triggers as findings are written: SQLite's in
store/tables.py ``_SQLITE_TERMS``, PostgreSQL's PL/pgSQL twins in ``POSTGRESQL_ONLY``) hold the
same rows on both databases, through every way the kernel writes a finding: the journal's
whole-row upsert (a first write and a re-analysis), an update, a delete, and text that is not JSON.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from paperchain.store import migrations, tables
from paperchain.store.database import Database
from paperchain.store.journal import CoreJournal

NOW = "2026-01-02T10:00:00+00:00"
FINDINGS = {  # document -> analyzer -> data: odd shapes included (not objects, scalars, non-lists)
    "d1": {"text.keywords": {"keywords": [{"keyword": "Invoice"}, {"keyword": "invoice"}, {"keyword": "Bridge"},
                                          "stray", {"score": 1}, {"keyword": 7}]},
           "text.entities": {"emails": [{"text": "a@x.example"}, {"text": "a@x.example"}, {"no": 1}],
                             "counts": {"emails": 1}, "urls": "not a list", "dates": [{"text": "2026-01-02"}]},
           "text.language": {"language": "en"}, "text.near_duplicates": {"duplicates": [{"document_id": "d2"}]},
           "text.summary": {"keywords": [{"keyword": "Moved"}]}},
    "d2": {"text.keywords": {"keywords": {"a": {"keyword": "BRIDGE"}, "b": {"keyword": "mill"}}},
           "text.entities": {"emails": [{"text": "a@x.example"}, {"text": "b@x.example"}]},
           "text.language": {"language": None}, "text.near_duplicates": {"duplicates": []}},
    "d3": {"text.keywords": {"keywords": "a string"}, "text.entities": [[{"text": "in a list"}]],
           "text.language": ["not", "an", "object"], "text.near_duplicates": {"duplicates": "none"}},
}


@pytest.fixture
async def kept(database_url):
    database = await Database.open(database_url)
    await migrations.upgrade(database)
    journal = CoreJournal(database)
    journal.start()
    yield database, journal
    await journal.close()
    await database.close()


def _finding(document: str, analyzer: str, data) -> dict:
    return {"document_id": document, "analyzer": analyzer, "run_id": "r", "step_id": "s",
            "data": data if isinstance(data, str) else json.dumps(data), "summary": "", "created": NOW}


async def _terms(database) -> list[tuple]:
    t = tables.finding_terms
    async with database.engine.connect() as conn:
        rows = (await conn.execute(sa.select(t.c.document_id, t.c.analyzer, t.c.kind, t.c.term))).all()
    return sorted((r.document_id, r.analyzer, str(r.kind), str(r.term)) for r in rows)


async def test_the_terms_are_the_same_on_both_databases_through_every_write(kept):
    database, journal = kept
    for document, found in FINDINGS.items():
        for analyzer, data in found.items():
            journal.upsert("findings", _finding(document, analyzer, data))
    await journal.flush()
    assert await _terms(database) == [
        ("d1", "text.entities", "dates", "2026-01-02"),
        ("d1", "text.entities", "emails", "a@x.example"),
        ("d1", "text.keywords", "", "7"),
        ("d1", "text.keywords", "", "bridge"),
        ("d1", "text.keywords", "", "invoice"),
        ("d1", "text.language", "", "en"),
        ("d1", "text.near_duplicates", "", ""),
        ("d2", "text.entities", "emails", "a@x.example"),
        ("d2", "text.entities", "emails", "b@x.example"),
        ("d2", "text.keywords", "", "bridge"),
        ("d2", "text.keywords", "", "mill"),
        ("d2", "text.language", "", ""),
        ("d3", "text.entities", "0", "in a list"),
        ("d3", "text.language", "", ""),
    ]

    await journal.upsert("findings", _finding("d2", "text.keywords", {"keywords": [{"keyword": "Invoice"}]}))
    await journal.upsert("findings", _finding("d3", "text.near_duplicates", {"duplicates": [{"document_id": "d1"}]}))
    await journal.upsert("findings", _finding("d3", "text.entities", "{not json"))  # the write still succeeds
    findings = tables.findings
    async with database.engine.begin() as conn:
        await conn.execute(sa.update(findings).where(findings.c.document_id == "d1", findings.c.analyzer ==
                                                     "text.language").values(data=json.dumps({"language": "es"})))
        await conn.execute(sa.delete(findings).where(findings.c.document_id == "d1",
                                                     findings.c.analyzer == "text.entities"))
        await conn.execute(sa.update(findings).where(findings.c.document_id == "d1", findings.c.analyzer ==
                                                     "text.summary").values(document_id="d4", analyzer="text.keywords"))
    assert await _terms(database) == [
        ("d1", "text.keywords", "", "7"),
        ("d1", "text.keywords", "", "bridge"),
        ("d1", "text.keywords", "", "invoice"),
        ("d1", "text.language", "", "es"),
        ("d1", "text.near_duplicates", "", ""),
        ("d2", "text.entities", "emails", "a@x.example"),
        ("d2", "text.entities", "emails", "b@x.example"),
        ("d2", "text.keywords", "", "invoice"),
        ("d2", "text.language", "", ""),
        ("d3", "text.language", "", ""),
        ("d3", "text.near_duplicates", "", ""),
        ("d4", "text.keywords", "", "moved"),  # a summary's row became keywords: counted now
    ]
