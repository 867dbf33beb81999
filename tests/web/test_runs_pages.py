"""A run's page, its files, its batch's page and the home page, on SQLite and PostgreSQL: what a
tenant's run shows its own people (steps in order, the step it waited on, logs, files, the home
page's figures and charts) and that another tenant's people get nothing of it."""

from __future__ import annotations

import json
import re

import pytest
from api_support import TestPlugin

from paperchain_sdk import ActionSpec, Artifact, Result, hookimpl
from paperchain_sdk.contracts import Action
from paperchain_sdk.testing.web import PASSWORD, WebClient


class Writer(Action):
    def run(self, ctx, inputs):
        return Result(outputs={"written": 1}, artifacts=[Artifact(name="note.txt", media_type="text/plain",
                                                                  data=b"a note <b>kept as text</b>")])


class WriterPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.write", impl=Writer)]


FLOW = {"name": "notes", "steps": [
    {"id": "write", "uses": "test.write"},
    {"id": "wait", "uses": "test.wait", "needs": ["write"], "with": {"seconds": 0}},
    {"id": "fail", "uses": "test.fail_until_fixed", "needs": ["wait"], "with": {"marker": "/nonexistent/marker"}},
]}


@pytest.fixture
async def site(paperchain_api, database_url):
    api = await paperchain_api(TestPlugin(), WriterPlugin())
    tokens = {"acme": await api.user("tina", "editor", tenant="acme", password=PASSWORD),
              "globex": await api.user("gus", "editor", tenant="globex", password=PASSWORD)}
    await api.state.accounts.create_user("ada", PASSWORD, "admin")
    browsers = []

    def login(name):
        browsers.append(WebClient(api.url, "en"))
        return browsers[-1].login(name)

    api.tokens, api.login = tokens, login
    yield api
    for made in browsers:
        await made.close()


async def _run(site, tenant: str) -> dict:
    token = site.tokens[tenant]
    assert (await site.request("POST", "/api/v1/workflows", json=FLOW, token=token)).status == 201
    started = await site.request("POST", "/api/v1/runs", json={"workflow": "notes"}, token=token)
    run = await site.wait_run(started.json["runs"][0])
    assert run["status"] == "failed", run
    return {**run, "batch_id": started.json["batch"]}


async def test_a_runs_page_shows_its_steps_logs_and_files_to_its_tenant_only(site):
    run = await _run(site, "acme")
    await site.kernel.journal.flush()
    tina, gus = await site.login("tina"), await site.login("gus")
    status, _, text = await tina.get(f"/runs/{run['id']}")
    assert status == 200
    assert text.index(">write<") < text.index(">wait<") < text.index(">fail<")  # in the order they started
    assert "note.txt" in text and "waited on" in text.lower()
    status, _, text = await tina.get(f"/runs/{run['id']}/artifacts/write/note.txt/preview")
    assert status == 200 and "a note &lt;b&gt;kept as text&lt;/b&gt;" in text
    status, headers, body = await tina.get(f"/runs/{run['id']}/artifacts/write/note.txt")
    assert status == 200 and "a note" in body
    status, _, text = await tina.get(f"/runs/{run['id']}/artifacts/write/other.txt")
    assert status == 404 and "has no file other.txt" in text
    status, _, text = await tina.get(f"/batches/{run['batch_id']}")
    assert status == 200 and run["id"][:12] in text

    for page in (f"/runs/{run['id']}", f"/runs/{run['id']}/artifacts/write/note.txt", f"/batches/{run['batch_id']}"):
        status, _, text = await gus.get(page)
        assert status == 404 and "not yours to see" in text, page
        assert "a note" not in text and "test.write" not in text


async def test_home_shows_a_tenant_its_own_failures_and_the_operator_everyones(site):
    acme, globex = await _run(site, "acme"), await _run(site, "globex")
    await site.kernel.journal.flush()

    async def figures(name):
        _, _, text = await (await site.login(name)).get("/")
        chart = json.loads(re.search(r'id="chart-data">(.*?)</script>', text, re.S).group(1))
        return text, chart

    text, chart = await figures("tina")
    assert acme["id"] in text and globex["id"] not in text
    assert sum(chart["failed"]) == 1 and sum(chart["succeeded"]) == 0
    assert any(seconds is not None and seconds >= 0 for seconds in chart["step_seconds"])
    text, chart = await figures("ada")
    assert acme["id"] in text and globex["id"] in text and sum(chart["failed"]) == 2
