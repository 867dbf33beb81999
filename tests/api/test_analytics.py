"""/api/v1/analytics: each series' numbers against what the runs, steps and findings say one by
one, tenant isolation, the insights' rules, and clear errors for a bad period.

Runs of today come from real workflows (the test plugin's actions, the text plugin's analyzers);
the insights compare two weeks, so their runs and steps are recorded with earlier times through
the journal, as the engine records its own.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from api_support import TestPlugin

from paperchain.store import tables

paperchain_text = pytest.importorskip("paperchain_text", reason="the corpus figures read the text plugin's findings")

ENGLISH = ("Dear customer, the invoice for the garden bridge repairs is attached. Please pay the invoice "
           "to IBAN GB82 WEST 1234 5698 7654 32 before Friday, or write to billing@bridges.example.com "
           "if the garden bridge repairs were not finished. The bridge committee thanks you for your patience.")
SPANISH = ("Estimado cliente, adjuntamos la factura de la reparación del puente del jardín. Por favor, pague "
           "la factura antes del viernes o escriba a facturas@puentes.example.com si la reparación del puente "
           "no ha terminado. El comité del puente le agradece su paciencia.")
ANALYSIS = {"name": "analysis", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "language", "uses": "text.language", "needs": ["text"]},
    {"id": "keywords", "uses": "text.keywords", "needs": ["text"]},
    {"id": "entities", "uses": "text.entities", "needs": ["text"]},
    {"id": "duplicates", "uses": "text.near_duplicates", "needs": ["text"]},
]}


@pytest.fixture
async def api(paperchain_api):
    return await paperchain_api(TestPlugin(), paperchain_text,
                                api={"rate": 100_000.0, "burst": 100_000, "ip_rate": 100_000.0, "ip_burst": 100_000})


async def _ok(api, path: str, token, **headers):
    reply = await api.request("GET", path, token=token, headers=headers)
    assert reply.status == 200, reply
    return reply.json


async def _run(api, token, workflow: str, documents=()) -> dict:
    started = await api.request("POST", "/api/v1/runs", json={"workflow": workflow, "documents": list(documents)},
                                token=token)
    assert started.status == 202, started
    return await api.wait_run(started.json["runs"][0])


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


async def _acme(api, tmp_path) -> dict:
    """Acme's editor uploads three documents, analyzes them, and runs a fast and a failing workflow."""
    editor = await api.user("alice", "editor", tenant="acme")
    ids = []
    for name, text in (("a.txt", ENGLISH), ("b.txt", ENGLISH.replace("Friday", "Monday")), ("c.txt", SPANISH)):
        reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(), token=editor)
        assert reply.status == 201, reply
        ids.append(reply.json["id"])
    assert (await api.request("POST", "/api/v1/workflows", json=ANALYSIS, token=editor)).status == 201
    analyzed = [await _run(api, editor, "analysis", [doc]) for doc in ids]  # one at a time: b finds a
    assert all(r["status"] == "succeeded" for r in analyzed), analyzed
    quick = {"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0.01}}]}
    fragile = {"name": "fragile", "steps": [{"id": "f", "uses": "test.fail_until_fixed",
                                             "with": {"marker": str(tmp_path / "never")}}]}
    for definition in (quick, fragile):
        assert (await api.request("POST", "/api/v1/workflows", json=definition, token=editor)).status == 201
    runs = [await _run(api, editor, "quick") for _ in range(3)] + [await _run(api, editor, "fragile") for _ in range(2)]
    # a file a trigger of acme's picked up: ingested by the workflow's run, not uploaded by a person
    archive = {"name": "archive", "steps": [{"id": "text", "uses": "document.text"}]}
    assert (await api.request("POST", "/api/v1/workflows", json=archive, token=editor)).status == 201
    (tmp_path / "scan.txt").write_text("An archived letter about the mill.")
    batch = await api.kernel.submit("archive", paths=[tmp_path / "scan.txt"], source="trigger:inbox", tenant="acme")
    await api.kernel.journal.flush()
    run_id = await api.kernel.sql.scalar(sa.select(tables.runs.c.id).where(tables.runs.c.batch_id == batch))
    runs.append(await api.wait_run(run_id))
    await api.kernel.journal.flush()
    return {"token": editor, "documents": ids, "runs": analyzed + runs}


async def test_each_series_matches_the_runs_steps_and_findings_one_by_one(api, tmp_path):
    acme = await _acme(api, tmp_path)
    token = acme["token"]
    today = datetime.now(UTC).date().isoformat()
    body = await _ok(api, "/api/v1/analytics", token)
    assert (body["days"], body["until"]) == (30, today)
    assert body["since"] == (datetime.now(UTC).date() - timedelta(days=29)).isoformat()

    assert body["documents"] == [{"day": today, "media_type": "text/plain", "source": "trigger:inbox", "documents": 1},
                                 {"day": today, "media_type": "text/plain", "source": "upload", "documents": 3}]

    states = Counter((r["workflow"], r["status"]) for r in acme["runs"])
    assert {(r["workflow"], r["state"]): r["runs"] for r in body["runs"]} == dict(states)
    assert {r["day"] for r in body["runs"]} == {today}

    seconds: dict[str, list[float]] = {}
    for run in acme["runs"]:
        for step in (await _ok(api, f"/api/v1/runs/{run['id']}", token))["steps"]:
            if step["status"] in ("succeeded", "failed") and step["started"]:
                took = datetime.fromisoformat(step["finished"]) - datetime.fromisoformat(step["started"])
                seconds.setdefault(step["uses"], []).append(took.total_seconds())
    assert {s["component"] for s in body["steps"]} == set(seconds)
    for row in body["steps"]:
        values = seconds[row["component"]]
        assert row["steps"] == len(values)
        assert row["p50"] == pytest.approx(_nearest_rank(values, 0.5), abs=0.002)
        assert row["p95"] == pytest.approx(_nearest_rank(values, 0.95), abs=0.002)

    [failure] = body["failures"]
    assert failure["workflow"] == "fragile" and failure["runs"] == 2 and "the marker" in failure["reason"]
    assert failure["latest_run"] in {r["id"] for r in acme["runs"] if r["status"] == "failed"}
    assert failure["link"] == f"/runs?status=failed&workflow=fragile&since={body['since']}"

    findings = {}
    for doc in acme["documents"]:
        run = next(r for r in acme["runs"] if r["document"] == doc)
        findings[doc] = {s["uses"]: s["outputs"] for s in (await _ok(api, f"/api/v1/runs/{run['id']}", token))["steps"]}
    languages = Counter(f["text.language"]["language"] for f in findings.values())
    assert {lang["language"]: lang["documents"] for lang in body["languages"]} == dict(languages) == {"en": 2, "es": 1}
    keywords = Counter(term for f in findings.values() for term in {k["keyword"].lower() for k in f["text.keywords"]["keywords"]})
    assert body["keywords"] and all(k["documents"] == keywords[k["term"]] for k in body["keywords"])
    assert body["keywords"][0]["documents"] == max(keywords.values())
    entities = Counter((kind, text) for f in findings.values() for kind, text in
                       {(kind, item["text"]) for kind, items in f["text.entities"].items() if isinstance(items, list)
                        for item in items})
    assert {(e["kind"], e["text"]): e["documents"] for e in body["entities"]} == dict(entities.most_common(20))
    near = sum(1 for f in findings.values() if f["text.near_duplicates"]["duplicates"])
    assert near >= 1 and body["duplicates"] == [{"day": today, "exact": 0, "near": near}]

    # each series has its own route with the same numbers
    for name, key in (("documents", "documents"), ("runs", "runs"), ("steps", "steps"), ("failures", "failures"),
                      ("duplicates", "duplicates")):
        assert (await _ok(api, f"/api/v1/analytics/{name}?days=30", token))["items"] == body[key]
    corpus = (await _ok(api, "/api/v1/analytics/corpus", token))["corpus"]
    assert corpus == {"keywords": body["keywords"], "entities": body["entities"], "languages": body["languages"]}


async def test_another_tenant_sees_none_of_it_and_the_operator_sees_all(api, tmp_path):
    acme = await _acme(api, tmp_path)
    globex = await api.user("bob", "viewer", tenant="globex")
    body = await _ok(api, "/api/v1/analytics?days=365", globex)
    for key in ("documents", "runs", "steps", "failures", "keywords", "entities", "languages", "duplicates", "insights"):
        assert body[key] == [], key
    for doc in acme["documents"]:
        assert doc.encode() not in (await api.request("GET", "/api/v1/analytics", token=globex)).body
    operator = await _ok(api, "/api/v1/analytics", True)
    assert sum(r["runs"] for r in operator["runs"]) == len(acme["runs"])


async def test_a_period_that_is_not_a_whole_number_of_days_from_1_to_365_is_refused_clearly(api):
    viewer = await api.user("vic", "viewer", tenant="acme")
    for days in ("0", "366", "-3", "abc", "1.5", ""):
        reply = await api.request("GET", f"/api/v1/analytics/runs?days={days}", token=viewer)
        assert reply.status == 400, (days, reply)
        assert "days" in reply.json["error"]["message"], reply
    reply = await api.request("GET", "/api/v1/analytics?period=3", token=viewer)
    assert reply.status == 400 and "period" in reply.json["error"]["message"]
    assert (await api.request("GET", "/api/v1/analytics?days=365", token=viewer)).status == 200
    assert (await api.request("GET", "/api/v1/analytics", token=None)).status == 401


# -- insights: this week against the week before ------------------------------------------------


async def _recorded(api, tenant: str, workflow: str, status: str, days_ago: float, steps=()) -> None:
    """A finished run as the engine records it (batch, run, steps), ``days_ago`` days back."""
    journal = api.kernel.journal
    created = datetime.now(UTC) - timedelta(days=days_ago)
    batch, run = "bat_" + secrets.token_hex(8), "run_" + secrets.token_hex(8)
    journal.upsert("batches", {"id": batch, "workflow": workflow, "workflow_hash": "h", "status": "finished",
                               "created": created.isoformat(), "total": 1, "tenant": tenant, "source": "api"})
    finished = created
    for uses, seconds in steps:
        started, finished = finished, finished + timedelta(seconds=seconds)
        journal.upsert("steps", {"run_id": run, "step_id": f"s{secrets.token_hex(3)}", "uses": uses, "status": "succeeded",
                                 "attempts": 1, "started": started.isoformat(), "finished": finished.isoformat()})
    journal.upsert("runs", {"id": run, "batch_id": batch, "seq": 0, "kind": "inputs", "workflow": workflow,
                            "workflow_hash": "h", "status": status, "created": created.isoformat(),
                            "started": created.isoformat(), "finished": finished.isoformat(), "source": "api",
                            "error": "the scanner jammed" if status == "failed" else None})
    await journal.flush()


async def test_insights_name_a_rising_failure_rate_a_slower_step_and_a_spike_of_duplicates(api):
    editor = await api.user("eve", "editor", tenant="acme")
    for i in range(10):  # flaky: 1 in 10 failed the week before, 6 in 10 this week; steady: 2 in 10 both weeks
        await _recorded(api, "acme", "flaky", "failed" if i < 1 else "succeeded", 9, [("ocr.page", 1.0)])
        await _recorded(api, "acme", "flaky", "failed" if i < 6 else "succeeded", 2, [("ocr.page", 3.0)])
        await _recorded(api, "acme", "steady", "failed" if i < 2 else "succeeded", 10, [("export.pdf", 2.0)])
        await _recorded(api, "acme", "steady", "failed" if i < 2 else "succeeded", 3, [("export.pdf", 2.5)])
    for _ in range(3):  # under the minimum of runs and steps: never an insight
        await _recorded(api, "acme", "rare", "succeeded", 8, [("rare.step", 1.0)])
        await _recorded(api, "acme", "rare", "failed", 1, [("rare.step", 9.0)])
    for _ in range(6):  # the same bytes six times: five repeats this week
        assert (await api.request("POST", "/api/v1/documents?name=same.txt", data=b"the same scan",
                                  token=editor)).status == 201
    await api.kernel.journal.flush()

    items = (await _ok(api, "/api/v1/analytics/insights", editor))["items"]
    by_kind = {i["kind"]: i for i in items}
    assert sorted(by_kind) == ["duplicate_spike", "failure_rate_rose", "step_slower"] and len(items) == 3
    rose = by_kind["failure_rate_rose"]
    assert (rose["subject"], rose["before"], rose["now"], rose["count"]) == ("flaky", 0.1, 0.6, 6)
    assert rose["link"].startswith("/runs?status=failed&workflow=flaky&since=")
    assert rose["text"] == ("Workflow flaky: 60% of its finished runs failed this week, up from 10% the week before "
                            "(6 failed runs).")
    slower = by_kind["step_slower"]
    assert (slower["subject"], slower["before"], slower["now"], slower["count"]) == ("ocr.page", 1.0, 3.0, 10)
    spike = by_kind["duplicate_spike"]
    assert (spike["before"], spike["now"]) == (0, 5) and spike["link"].endswith("#duplicates")

    spanish = (await _ok(api, "/api/v1/analytics/insights", editor, **{"Accept-Language": "es-ES,es;q=0.9"}))["items"]
    texts = {i["kind"]: i["text"] for i in spanish}
    assert texts["failure_rate_rose"] == ("Flujo de trabajo flaky: el 60\xa0% de sus ejecuciones terminadas "
                                          "fallaron esta semana, frente al 10\xa0% la semana anterior "
                                          "(6 ejecuciones fallidas).")
    assert "1 s" in texts["step_slower"] and "3 s" in texts["step_slower"]
    # the overview carries the same insights, and another tenant none of them
    assert [i["kind"] for i in (await _ok(api, "/api/v1/analytics", editor))["insights"]] == [i["kind"] for i in items]
    globex = await api.user("gus", "viewer", tenant="globex")
    assert (await _ok(api, "/api/v1/analytics/insights", globex))["items"] == []
    exact = (await _ok(api, "/api/v1/analytics/duplicates", editor))["items"]
    assert sum(d["exact"] for d in exact) == 5


async def test_the_openapi_document_describes_every_analytics_route_for_viewers(api):
    document = (await api.request("GET", "/api/v1/openapi.json")).json
    paths = {p: ops for p, ops in document["paths"].items() if p.startswith("/api/v1/analytics")}
    assert sorted(paths) == ["/api/v1/analytics", "/api/v1/analytics/corpus", "/api/v1/analytics/documents",
                             "/api/v1/analytics/duplicates", "/api/v1/analytics/failures",
                             "/api/v1/analytics/insights", "/api/v1/analytics/runs", "/api/v1/analytics/steps"]
    for ops in paths.values():
        answer = ops["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["$ref"].startswith("#/components/schemas/"), answer
    schemas = document["components"]["schemas"]
    assert set(schemas["Overview"]["required"]) >= {"documents", "runs", "steps", "failures", "insights"}
    assert schemas["StepDurations"]["properties"]["p95"] == {"type": "number"}
    viewer = await api.user("val", "viewer")
    for path in paths:
        assert (await api.request("GET", path, token=viewer)).status == 200, path


async def test_the_period_s_first_event_is_found_by_its_sequence_gaps_and_all(database_url):
    import sqlalchemy as sa

    from paperchain.analytics import _first_event_since
    from paperchain.store.database import Database
    from paperchain.store.sql import SqlHandle
    from paperchain.store.tables import events

    database = await Database.open(database_url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(lambda sync: events.create(sync))
        sql = SqlHandle(database)
        assert await _first_event_since(sql, "2026-01-01") in (0, 1)  # an empty log: any start reads nothing
        days = ["2026-01-0" + str(d) for d in (1, 1, 2, 4, 4, 5, 8)]
        await sql.write(sa.insert(events), [{"seq": seq, "type": "t", "subject": "s", "time": day + "T10:00:00+00:00",
                                             "data": "{}"} for seq, day in zip((3, 4, 7, 8, 20, 21, 40), days)])
        for moment, first in (("2026-01-01", 3), ("2026-01-02", 7), ("2026-01-03", 8), ("2026-01-05", 21),
                              ("2026-01-06", 40), ("2026-01-09", None)):
            start = await _first_event_since(sql, moment)
            # from there on, exactly the period's events
            assert await sql.scalar(sa.select(sa.func.min(events.c.seq)).where(events.c.seq >= start)) == first, moment
    finally:
        await database.close()
