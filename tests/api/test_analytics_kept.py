"""What keeps the analytics fast: the corpus figures read from ``finding_terms`` (schema v14, kept
by triggers as findings are written) instead of parsing every finding's JSON per request, and the
figures kept per tenant and period until a kernel event could change them.

The first tests hold the kept table against the queries the page ran before over the findings'
JSON (``_JSON_*`` below), through every way a finding is written: inserted, replaced as the engine
does, updated, deleted, malformed, and already there when the database is upgraded.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from datetime import UTC, datetime

import pytest
import sqlite_utils
from api_support import TestPlugin

from paperchain import analytics
from paperchain.store.database import Database
from paperchain.store.schema import MIGRATIONS, migrate
from paperchain.store.sql import SqlHandle

from .test_analytics import ANALYSIS, ENGLISH, SPANISH, _ok, _run

# The corpus queries as they were before ``finding_terms``: the reference the kept rows must match.
_JSON_FROM = ("FROM findings f JOIN documents d ON d.id = f.document_id{each} "
              "WHERE f.analyzer = ? AND f.created >= ? AND d.deleted IS NULL")
_JSON_KEYWORDS = ("SELECT lower(CASE WHEN k.type = 'object' THEN json_extract(k.value, '$.keyword') END) AS term, "
                  "count(DISTINCT f.document_id) " + _JSON_FROM.format(each=", json_each(f.data, '$.keywords') k")
                  + " AND term IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1")
# (Its WHERE said ``text IS NOT NULL``, which SQLite reads as the documents' column ``text``, not the
# entity's: an item without a text was counted, a document without text was not. Fixed here.)
_JSON_ENTITIES = ("SELECT e.key, CASE WHEN i.type = 'object' THEN json_extract(i.value, '$.text') END AS item, "
                  "count(DISTINCT f.document_id) " + _JSON_FROM.format(
                      each=", json_each(f.data) e, json_each(CASE WHEN e.type = 'array' THEN e.value ELSE '[]' END) i")
                  + " AND item IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2")
_JSON_LANGUAGES = ("SELECT coalesce(json_extract(f.data, '$.language'), ''), count(*) " + _JSON_FROM.format(each="")
                   + " GROUP BY 1 ORDER BY 2 DESC, 1")
_JSON_NEAR = ("SELECT substr(f.created, 1, 10), count(*) " + _JSON_FROM.format(each="")
              + " AND json_array_length(f.data, '$.duplicates') > 0 GROUP BY 1")

TODAY = datetime.now(UTC).date().isoformat()
FINDINGS = {  # document -> analyzer -> data: odd shapes included (not objects, scalars, non-lists)
    "d1": {"text.keywords": {"keywords": [{"keyword": "Invoice"}, {"keyword": "invoice"}, {"keyword": "Bridge"},
                                          "stray", {"score": 1}, {"keyword": 7}]},
           "text.entities": {"emails": [{"text": "a@x.example"}, {"text": "a@x.example"}, {"no": 1}],
                             "counts": {"emails": 1}, "urls": "not a list", "dates": [{"text": "2026-01-02"}]},
           "text.language": {"language": "en"}, "text.near_duplicates": {"duplicates": [{"document_id": "d2"}]}},
    "d2": {"text.keywords": {"keywords": [{"keyword": "BRIDGE"}, {"keyword": "mill"}]},
           "text.entities": {"emails": [{"text": "a@x.example"}, {"text": "b@x.example"}]},
           "text.language": {"language": None}, "text.near_duplicates": {"duplicates": []}},
    "d3": {"text.keywords": {"keywords": {"keyword": "object, not a list"}}, "text.entities": [],
           "text.language": {}, "text.near_duplicates": {"duplicates": "none"}},
}


def _database(tmp_path, version: int = len(MIGRATIONS)) -> sqlite3.Connection:
    """A database at schema ``version``, with three live documents and one deleted."""
    path = tmp_path / "paperchain.db"
    db = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:version]:
        migration(db)
    db.execute(f"PRAGMA user_version = {version}")
    db.conn.commit()
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    for doc in ("d1", "d2", "d3", "gone"):
        conn.execute("INSERT INTO documents (id, name, created, deleted) VALUES (?, ?, ?, ?)",
                     (doc, doc, TODAY, TODAY if doc == "gone" else None))
    return conn


def _write(conn, document: str, analyzer: str, data, created: str = TODAY + "T10:00:00+00:00") -> None:
    """As the engine's journal writes a finding: a whole-row INSERT OR REPLACE."""
    conn.execute("INSERT OR REPLACE INTO findings (document_id, analyzer, run_id, step_id, data, summary, created) "
                 "VALUES (?, ?, 'r', 's', ?, '', ?)",
                 (document, analyzer, data if isinstance(data, str) else json.dumps(data), created))


def _write_all(conn) -> None:
    for document, found in FINDINGS.items():
        for analyzer, data in found.items():
            _write(conn, document, analyzer, data)
    _write(conn, "gone", "text.keywords", {"keywords": [{"keyword": "deleted"}]})


def _reference(conn, since: str) -> dict:
    return {name: conn.execute(sql, [analyzer, since]).fetchall()
            for name, sql, analyzer in (("keywords", _JSON_KEYWORDS, "text.keywords"),
                                        ("entities", _JSON_ENTITIES, "text.entities"),
                                        ("languages", _JSON_LANGUAGES, "text.language"),
                                        ("near", _JSON_NEAR, "text.near_duplicates"))}


async def _kept(path, since: str) -> dict:
    p = analytics.period(30)
    p = analytics.Period(days=p.days, since=datetime.fromisoformat(since).date(), until=p.until)
    database = await Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        sql = SqlHandle(database)
        words = await analytics.corpus(sql, "", p, limit=1000)
        near = [(d.day, d.near) for d in await analytics.duplicates_per_day(sql, "", p) if d.near]
    finally:
        await database.close()
    return {"keywords": [(t.term, t.documents) for t in words.keywords],
            "entities": [(e.kind, e.text, e.documents) for e in words.entities],
            "languages": [(lang.language, lang.documents) for lang in words.languages], "near": near}


async def test_the_kept_terms_count_what_the_findings_json_says_through_every_write(tmp_path):
    conn = _database(tmp_path)
    _write_all(conn)
    expected = _reference(conn, TODAY)
    assert expected["keywords"] == [("bridge", 2), ("7", 1), ("invoice", 1), ("mill", 1)]  # the reference sees the odd shapes
    assert await _kept(tmp_path / "paperchain.db", TODAY) == expected

    _write(conn, "d2", "text.keywords", {"keywords": [{"keyword": "Invoice"}]})  # re-analyzed: replaced
    _write(conn, "d3", "text.near_duplicates", {"duplicates": [{"document_id": "d1"}]})
    conn.execute("UPDATE findings SET data = ? WHERE document_id = 'd1' AND analyzer = 'text.language'",
                 (json.dumps({"language": "es"}),))
    conn.execute("DELETE FROM findings WHERE document_id = 'd1' AND analyzer = 'text.entities'")
    expected = _reference(conn, TODAY)
    assert expected["keywords"] == [("invoice", 2), ("7", 1), ("bridge", 1)]
    assert await _kept(tmp_path / "paperchain.db", TODAY) == expected

    _write(conn, "d1", "text.keywords", {"keywords": [{"keyword": "old"}]}, created="2020-01-01T00:00:00+00:00")
    assert ("old", 1) not in (await _kept(tmp_path / "paperchain.db", TODAY))["keywords"]  # before the period
    expected = _reference(conn, "2019-12-01")  # (the JSON queries fail on malformed JSON: asked before it is written)
    assert await _kept(tmp_path / "paperchain.db", "2019-12-01") == expected
    _write(conn, "d3", "text.entities", "{not json")  # skipped, and the write itself still succeeds
    assert await _kept(tmp_path / "paperchain.db", "2019-12-01") == expected


async def test_findings_written_before_the_upgrade_are_counted_after_it(tmp_path):
    before = next(i for i, m in enumerate(MIGRATIONS) if "finding_terms" in (m.__doc__ or ""))
    conn = _database(tmp_path, version=before)
    _write_all(conn)
    expected = _reference(conn, TODAY)
    conn.close()
    assert migrate(tmp_path / "paperchain.db") == len(MIGRATIONS)
    assert await _kept(tmp_path / "paperchain.db", TODAY) == expected


# -- kept answers ------------------------------------------------------------------------------


@pytest.fixture
async def api(paperchain_api):
    paperchain_text = pytest.importorskip("paperchain_text", reason="the corpus figures read the text plugin's findings")
    return await paperchain_api(TestPlugin(), paperchain_text,
                                api={"rate": 100_000.0, "burst": 100_000, "ip_rate": 100_000.0, "ip_burst": 100_000})


def _counted(monkeypatch, name: str) -> list:
    """Count the calls of the analytics function ``name`` (the kept answers call it by name)."""
    calls, figure = [], getattr(analytics, name)

    @functools.wraps(figure)
    async def counting(*args):
        calls.append(args[1])
        return await figure(*args)

    monkeypatch.setattr(analytics, name, counting)
    return calls


async def test_a_kept_answer_is_the_tenants_own_and_changes_when_a_run_a_document_or_a_finding_lands(
        api, monkeypatch):
    editor = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "viewer", tenant="globex")
    quick = {"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0.01}}]}
    for definition in (quick, ANALYSIS):
        assert (await api.request("POST", "/api/v1/workflows", json=definition, token=editor)).status == 201
    await _run(api, editor, "quick")
    await asyncio.sleep(0.6)  # past the cache's settling time after the run's events
    runs = _counted(monkeypatch, "runs_per_day")

    first = await _ok(api, "/api/v1/analytics", editor)
    assert sum(r["runs"] for r in first["runs"]) == 1
    assert (await _ok(api, "/api/v1/analytics/runs", editor))["items"] == first["runs"]
    assert runs == ["acme"], "the overview and the series route answer from the one kept answer"

    assert (await _ok(api, "/api/v1/analytics", globex))["runs"] == []  # never acme's kept answer
    assert sum(r["runs"] for r in (await _ok(api, "/api/v1/analytics", True))["runs"]) == 1
    assert runs == ["acme", "globex", ""]

    await _run(api, editor, "quick")  # a run lands
    assert sum(r["runs"] for r in (await _ok(api, "/api/v1/analytics", editor))["runs"]) == 2
    assert (await _ok(api, "/api/v1/analytics", globex))["runs"] == []

    ids = []
    for name, text in (("a.txt", ENGLISH), ("c.txt", SPANISH)):  # documents land
        reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(), token=editor)
        assert reply.status == 201, reply
        ids.append(reply.json["id"])
        body = await _ok(api, "/api/v1/analytics", editor)
        assert sum(d["documents"] for d in body["documents"]) == len(ids)
        assert body["keywords"] == [] and body["languages"] == []
    for doc in ids:  # findings land
        await _run(api, editor, "analysis", [doc])
        languages = (await _ok(api, "/api/v1/analytics/corpus", editor))["corpus"]["languages"]
        assert sum(lang["documents"] for lang in languages) == ids.index(doc) + 1
    body = await _ok(api, "/api/v1/analytics", editor)
    assert {lang["language"] for lang in body["languages"]} == {"en", "es"} and body["keywords"]
    other = await _ok(api, "/api/v1/analytics", globex)
    assert other["keywords"] == other["languages"] == other["documents"] == []
