"""The workflows pages over HTTP: list, a workflow's page (graph, triggers, versions and diff,
runs), running it from its form, the TOML editor's checks and saves; roles, CSRF and tenants."""

from __future__ import annotations

import html
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from paperchain.store import tables
from paperchain.web import graph
from paperchain.web.routes.workflow_run import input_fields
from paperchain.web.routes.workflows import diff_rows, trigger_facts
from paperchain.web.workflow_toml import check, dumps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"
CHAIN = {"name": "chain", "description": "Two naps in a row", "inputs": {"lang": "eng", "pages": {
    "type": "integer", "required": True, "description": "How many pages"}},
    "steps": [{"id": "first", "uses": "test.wait", "with": {"seconds": 0}},
              {"id": "second", "uses": "test.wait", "needs": ["first"], "with": {"seconds": 0}}]}


async def save(site, definition: dict) -> None:
    reply = await site.request("PUT", f"/api/v1/workflows/{definition['name']}", json=definition)
    assert reply.status == 200, reply.json


async def audit_actions(site) -> list[tuple]:
    audit = tables.audit
    rows = await site.kernel.sql.read(sa.select(audit.c.actor, audit.c.action, audit.c.target, audit.c.outcome)
                                      .order_by(audit.c.id))
    return [(r.actor, r.action, r.target, r.outcome) for r in rows]


# -- the pure parts ---------------------------------------------------------------------------

def test_the_graph_puts_each_step_below_what_it_needs():
    step = lambda i, *needs: SimpleNamespace(id=i, uses=f"c.{i}", needs=needs)
    steps = [step("text"), step("pdf", "text"), step("html", "text"), step("bundle", "pdf", "html"), step("alone")]
    assert [[s.id for s in row] for row in graph.layers(steps)] == [["text", "alone"], ["pdf", "html"], ["bundle"]]
    svg = str(graph.svg(steps, label="Steps of report"))
    assert svg.count('class="graph-node"') == 5 and svg.count('class="graph-edge"') == 4
    assert 'data-from="text" data-to="pdf"' in svg and "style=" not in svg and "<title" in svg
    nodes = {n.id: n for n in graph.layout(steps)[0]}
    assert nodes["text"].y < nodes["pdf"].y < nodes["bundle"].y and nodes["pdf"].y == nodes["html"].y


def test_saved_definitions_are_written_back_as_toml_that_reads_the_same():
    for path in sorted(EXAMPLES.glob("*.toml")):
        definition = tomllib.loads(path.read_text())
        assert tomllib.loads(dumps(definition)) == definition, path
    odd = {"name": "odd", "weird key": 'a "quoted"\\ value', "on": {"manual": {}},
           "steps": [{"id": "a", "uses": "x", "with": {"body": "two\nlines \\ here", "n": 1.5, "deep": {"a": [1, 2]}}}]}
    assert tomllib.loads(dumps(odd)) == odd


def test_a_diff_lists_changed_lines_with_their_numbers():
    rows = diff_rows("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(r["kind"], r["old"], r["new"], r["text"]) for r in rows] == [
        ("same", 1, 1, "a"), ("removed", 2, None, "b"), ("added", None, 2, "B"), ("same", 3, 3, "c"),
        ("added", None, 4, "d")]


def test_triggers_say_their_next_firing_folder_and_webhook_url():
    import datetime as dt

    pytest.importorskip("croniter", reason="the schedule trigger's cron comes with paperchain-triggers")
    request = SimpleNamespace(scheme="https", host="papers.example")
    workflow = SimpleNamespace(on={"schedule": {"cron": "30 7 * * *", "timezone": "Europe/Madrid"},
                                   "folder": {"path": "inbox"}, "webhook": {"secret": "s3cret"},
                                   "manual": {}})
    found = {t["name"]: t for t in trigger_facts(request, SimpleNamespace(ref="acme:invoices"), workflow)}
    moment = found["schedule"]["next"]
    now = dt.datetime.now(dt.UTC)
    assert now < moment <= now + dt.timedelta(days=1) and moment.minute == 30 and moment.hour in (5, 6)
    assert found["folder"]["folder"] == "inbox" and found["webhook"]["url"] == "https://papers.example/hooks/acme:invoices"
    assert "secret" not in found["webhook"]["settings"]  # never shown


def test_the_run_form_follows_the_inputs():
    fields = {f["name"]: f for f in input_fields({"lang": "eng", "dpi": 300, "ratio": 0.5, "flag": False,
                                                  "mode": {"options": ["fast", "best"], "default": "fast"},
                                                  "who": {"type": "string", "required": True}})}
    assert [fields[n]["kind"] for n in ("lang", "dpi", "ratio", "flag", "mode", "who")] == [
        "string", "integer", "number", "boolean", "string", "string"]
    assert fields["who"]["required"] and not fields["lang"]["required"] and fields["mode"]["options"] == ["fast", "best"]


# -- the editor's checks ----------------------------------------------------------------------

async def test_bad_toml_and_invalid_workflows_are_shown_at_their_line_and_column(site):
    validate = site.kernel.workflows.validate
    _, _, problems = check('name = "x"\n[[steps]\n', validate)
    assert [(p.line, p.column, p.syntax) for p in problems] == [(2, 8, True)]
    text = 'name = "x"\n\n[[steps]]\nid = "a"\nuses = "test.wait"\n[steps.with]\nseconds = "abc"\nbogus = 1\n'
    _, _, problems = check(text, validate)
    assert [(p.line, p.column) for p in problems] == [(7, 1), (8, 1)]
    assert "seconds" in problems[0].message and "bogus" in problems[1].message
    cases = {'name = "x"\n[[steps]]\nid = "a"\nuses = "test.nope"\n': (4, 1),
             'name = "x"\n[[steps]]\nid = "a"\nuses = "test.wait"\nneeds = ["zz"]\n': (5, 1),
             'name = "x"\n[[steps]]\nid = "a"\n  uses = "test.wait"\n  colour = 1\n': (5, 3),
             'name = "x"\n[[steps]]\nid = "a"\nuses = "test.wait"\nwith = { seconds = 1, nope = 2 }\n': (5, 23),
             'name = "x"\n[on.nowhere]\n[[steps]]\nid = "a"\nuses = "test.wait"\n': (2, 1)}
    for text, position in cases.items():
        _, _, problems = check(text, validate)
        assert [(p.line, p.column) for p in problems] == [position], (text, problems)
    assert check(dumps(CHAIN), validate)[2] == []


async def test_the_validate_endpoint_answers_as_you_type(site):
    b = await site.browser().login("eddie")
    token = await b.csrf("/workflows/new?blank=1")
    status, _, text = await b.post("/workflows/validate", {"csrf": token, "toml": 'name = "x"\nsteps = 3\n'})
    assert status == 200 and 'data-line="2"' in text and "must be an array of tables" in text
    status, _, text = await b.post("/workflows/validate", {"csrf": token, "toml": dumps(CHAIN)})
    assert status == 200 and "Valid: chain, 2 steps." in text
    status, _, text = await b.post("/workflows/validate", {"toml": dumps(CHAIN)})
    assert status == 403 and "security token" in text
    viewer = await site.browser().login("vera")
    status, _, text = await viewer.post("/workflows/validate", {"csrf": await viewer.csrf(), "toml": "x"})
    assert status == 403 and "needs the editor role" in text


async def test_new_from_an_example_then_save_makes_a_new_version_and_the_diff_shows_it(site):
    b = await site.browser().login("eddie")
    status, _, gallery = await b.get("/workflows/new")
    assert status == 200 and 'href="/workflows/new?template=report"' in gallery and "Blank" in gallery
    status, _, editor = await b.get("/workflows/new?template=report")
    assert status == 200 and 'name = "report"' in html.unescape(editor) and "test.wait" in editor  # components listed
    assert (await b.get("/workflows/new?template=..%2Fsecret"))[0] == 404
    token = await b.csrf("/workflows/new?blank=1")
    status, headers, _ = await b.post("/workflows/new", {"csrf": token, "toml": dumps(CHAIN)})
    assert status == 303 and headers["Location"] == "/workflows/chain"
    status, _, text = await b.post("/workflows/new", {"csrf": token, "toml": dumps(CHAIN)})
    assert status == 400 and "exists" in text and 'data-line="1"' in text  # the name is taken
    changed = {**CHAIN, "steps": [*CHAIN["steps"], {"id": "third", "uses": "test.wait", "needs": ["second"]}]}
    status, _, text = await b.post("/workflows/chain/edit", {"csrf": token, "toml": dumps(changed)[:-40]})
    assert status == 400 and "problem" in text and "data-line=" in text
    status, headers, _ = await b.post("/workflows/chain/edit", {"csrf": token, "toml": dumps(changed)})
    assert status == 303 and headers["Location"] == "/workflows/chain"
    renamed = {**changed, "name": "other"}
    status, _, text = await b.post("/workflows/chain/edit", {"csrf": token, "toml": dumps(renamed)})
    assert status == 400 and "was sent to" in text
    versions = (await site.request("GET", "/api/v1/workflows/chain/versions")).json["items"]
    assert len(versions) == 2
    new, old = versions[0]["hash"], versions[1]["hash"]
    status, _, page = await b.get("/workflows/chain")
    assert status == 200 and page.count('class="graph-node"') == 3 and f'<option value="{old}"' in page
    status, _, diff = await b.get(f"/workflows/chain/diff?a={old}&b={new}")
    assert status == 200 and 'class="diff-added"' in diff and "third" in diff and 'class="diff-removed"' not in diff
    assert (await b.get(f"/workflows/chain/diff?a={old}&b={'0' * 64}"))[0] == 404
    actions = await audit_actions(site)
    assert ("eddie", "POST /workflows/{name}/edit", "workflow:chain", "success") in actions
    assert ("eddie", "POST /workflows/new", "workflow:chain", "success") in actions


# -- the list and a workflow's page -----------------------------------------------------------

async def test_the_list_shows_state_triggers_last_run_and_success_and_editors_toggle_it(site):
    await save(site, CHAIN)
    run_id = (await site.request("POST", "/api/v1/runs", json={"workflow": "chain", "inputs": {"pages": 1}})).json["runs"][0]
    await site.wait_run(run_id)
    b = await site.browser().login("eddie")
    status, _, text = await b.get("/workflows")
    assert status == 200 and 'href="/workflows/chain"' in text and "manual" in text
    assert f'href="/runs/{run_id}"' in text and "100 %" in text and "1 of 1 finished" in text
    assert 'aria-current="page">Workflows<' in text
    status, headers, _ = await b.post("/workflows/chain/disable", {"csrf": await b.csrf("/workflows"), "next": "/workflows"})
    assert status == 303 and headers["Location"] == "/workflows"
    assert (await site.request("GET", "/api/v1/workflows/chain")).json["enabled"] is False
    _, _, page = await b.get("/workflows/chain")
    assert "This workflow is disabled" in page and 'action="/workflows/chain/run"' not in page
    assert ("eddie", "POST /workflows/{name}/disable", "workflow:chain", "success") in await audit_actions(site)
    status, _, _ = await b.post("/workflows/chain/enable", {"csrf": await b.csrf("/workflows")})
    assert status == 303 and (await site.request("GET", "/api/v1/workflows/chain")).json["enabled"] is True
    status, _, text = await b.post("/workflows/chain/disable", {})
    assert status == 403 and "security token" in text
    token = await b.csrf("/workflows")
    status, _, text = await b.post("/workflows/chain/delete", {"csrf": token})
    assert status == 400 and "Tick the box" in text
    status, headers, _ = await b.post("/workflows/chain/delete", {"csrf": token, "confirm": "yes"})
    assert status == 303 and headers["Location"] == "/workflows"
    assert (await site.request("GET", "/api/v1/workflows/chain")).status == 404
    assert ("eddie", "POST /workflows/{name}/delete", "workflow:chain", "success") in await audit_actions(site)


async def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(site):
    await save(site, CHAIN)
    viewer = await site.browser().login("vera")
    status, _, text = await viewer.get("/workflows")
    assert status == 200 and "chain" in text and "/disable" not in text and "/workflows/new" not in text
    status, _, text = await viewer.get("/workflows/chain")
    assert status == 200 and 'class="graph"' in text
    for control in ('href="/workflows/chain/edit"', 'action="/workflows/chain/run"', 'action="/workflows/chain/disable"',
                    'action="/workflows/chain/delete"'):
        assert control not in text
    token = await viewer.csrf()
    for path, form in (("/workflows/chain/disable", {}), ("/workflows/chain/run", {"input-pages": "1"}),
                       ("/workflows/chain/delete", {"confirm": "yes"}),
                       ("/workflows/chain/edit", {"toml": dumps(CHAIN)}), ("/workflows/new", {"toml": dumps(CHAIN)})):
        status, _, text = await viewer.post(path, {"csrf": token, **form})
        assert status == 403 and "needs the editor role" in text, path
    assert (await viewer.get("/workflows/chain/edit"))[0] == 403
    assert (await site.request("GET", "/api/v1/workflows/chain")).json["enabled"] is True
    status, _, _ = await viewer.post("/workflows/chain/disable", {"csrf": token}, origin="https://evil.example")
    assert status == 403


async def test_the_page_shows_settings_triggers_and_runs_of_a_workflow(site):
    await save(site, {**CHAIN, "on": {"manual": {}}})
    b = await site.browser().login("vera")
    status, _, text = await b.get("/workflows/chain")
    assert status == 200 and "Two naps in a row" in text and "<dt>seconds</dt>" in text
    assert 'data-from="first" data-to="second"' in text and 'href="/runs?workflow=chain"' in text
    assert "started by hand" in text
    assert (await b.get("/workflows/nope"))[0] == 404


async def test_run_it_from_its_form_with_typed_inputs_and_a_document(site):
    await save(site, CHAIN)
    b = await site.browser().login("eddie")
    token = await b.csrf("/workflows/chain")
    _, _, page = await b.get("/workflows/chain")
    assert 'name="input-pages"' in page and 'type="number" step="1" required' in page and 'value="eng"' in page
    status, _, text = await b.post("/workflows/chain/run", {"csrf": token, "input-pages": "many"})
    assert status == 400 and "must be a whole number" in text
    status, _, text = await b.post("/workflows/chain/run", {"csrf": token})
    assert status == 400 and "is required" in text
    status, headers, _ = await b.post("/workflows/chain/run", {"csrf": token, "input-pages": "3", "input-lang": "spa"})
    assert status == 303 and headers["Location"].startswith("/runs/run")
    run_id = headers["Location"].rsplit("/", 1)[-1]
    run = await site.wait_run(run_id)
    assert run["status"] == "succeeded"
    row = await site.kernel.sql.first(sa.select(tables.runs.c.inputs, tables.runs.c.source)
                                      .where(tables.runs.c.id == run_id))
    inputs, source = row.inputs, row.source
    assert '"pages": 3' in inputs and '"lang": "spa"' in inputs and source == "web"
    doc = (await site.request("POST", "/api/v1/documents?name=memo.txt", data=b"hello",
                              headers={"Content-Type": "text/plain"})).json["id"]
    status, _, picker = await b.get("/workflows/chain/documents?q=mem")
    assert status == 200 and f'value="{doc}"' in picker
    assert f'value="{doc}"' not in (await b.get("/workflows/chain/documents?q=zzz"))[2]
    status, headers, _ = await b.post("/workflows/chain/run", [("csrf", token), ("input-pages", "1"), ("document", doc)])
    assert status == 303 and headers["Location"].startswith("/runs/")
    status, _, _ = await b.post("/workflows/chain/run", [("csrf", token), ("input-pages", "1"), ("document", "doc_nope")])
    assert status == 404


async def test_another_tenants_workflow_is_not_found(site):
    await site.state.accounts.create_user("tina", "correct horse battery staple 42", "editor", tenant="acme")
    await save(site, CHAIN)
    await site.kernel.workflows.unshare("chain", "*")  # files are shared with all; an API save is not, but be sure
    tina = await site.browser().login("tina")
    _, _, listed = await tina.get("/workflows")
    assert "/workflows/chain" not in listed
    token = await tina.csrf("/workflows")
    for path in ("/workflows/chain", "/workflows/chain/edit", "/workflows/chain/documents"):
        assert (await tina.get(path))[0] == 404, path
    for path in ("/workflows/chain/disable", "/workflows/chain/run", "/workflows/chain/edit"):
        status, _, _ = await tina.post(path, {"csrf": token, "input-pages": "1", "toml": dumps(CHAIN)})
        assert status == 404, path
    status, _headers, _ = await tina.post("/workflows/new", {"csrf": token, "toml": dumps(CHAIN)})
    assert status == 303  # her own workflow of the same name, in her tenant
    mine = (await site.request("GET", "/api/v1/workflows/chain")).json
    assert mine["tenant"] == "" and (await tina.get("/workflows/chain"))[0] == 200
    operator = await site.browser().login("ada")
    _, _, listed = await operator.get("/workflows")
    assert 'href="/workflows/acme:chain"' in listed and 'href="/workflows/chain"' in listed
    assert (await operator.get("/workflows/acme:chain"))[0] == 200
    changed = {**CHAIN, "description": "Changed by the operator"}
    status, headers, _ = await operator.post("/workflows/acme:chain/edit", {"csrf": await operator.csrf("/workflows"),
                                                                           "toml": dumps(changed)})
    assert status == 303 and headers["Location"] == "/workflows/acme:chain"  # saved in acme's scope, not its own
    assert len(await site.kernel.workflows.versions("chain", tenant="acme")) == 2
    assert "Changed by the operator" in (await tina.get("/workflows/chain"))[2]
    assert "Changed by the operator" not in (await operator.get("/workflows/chain"))[2]


async def test_a_shared_workflow_is_read_and_run_but_not_changed(site):
    await site.state.accounts.create_user("tina", "correct horse battery staple 42", "editor", tenant="acme")
    await save(site, CHAIN)
    await site.kernel.workflows.share("chain", "acme", by="ada")
    tina = await site.browser().login("tina")
    status, _, page = await tina.get("/workflows/chain")
    assert status == 200 and "shared with your tenant" in page and 'href="/workflows/chain/edit"' not in page
    assert 'action="/workflows/chain/disable"' not in page
    assert 'action="/workflows/chain/run"' in page
    token = await tina.csrf("/workflows")
    assert (await tina.post("/workflows/chain/disable", {"csrf": token}))[0] == 403
    assert (await tina.get("/workflows/chain/edit"))[0] == 403


async def test_the_pages_in_spanish(site):
    await save(site, CHAIN)
    b = await site.browser("es").login("eddie")
    _, _, listed = await b.get("/workflows")
    assert "<h1>Flujos de trabajo</h1>" in listed and "Nuevo flujo de trabajo" in listed
    _, _, page = await b.get("/workflows/chain")
    assert "Ejecutarlo" in page and "Versiones" in page
    _, _, editor = await b.get("/workflows/chain/edit")
    assert "Guardar como una versión nueva" in editor
    token = await b.csrf("/workflows")
    _, _, problems = await b.post("/workflows/validate", {"csrf": token, "toml": "name = \n"})
    assert re.search(r"Línea 1, columna 8", problems) and "no es TOML válido" in problems


async def test_every_example_workflow_has_a_page_and_an_editor_that_accepts_it(paperchain_api, tmp_path):
    plugins = [pytest.importorskip(name) for name in ("paperchain_ocr", "paperchain_export", "paperchain_notify",
                                                      "paperchain_text", "paperchain_vision", "paperchain_triggers",
                                                      "paperchain_ai", "paperchain_ledger")]
    site = await paperchain_api(*plugins, triggers=False)  # checked, not started: no folder is watched
    await site.state.accounts.create_user("eddie", "correct horse battery staple 42", "editor")
    saved = await site.kernel.workflows.load_dir(EXAMPLES)
    assert len(saved) == len(list(EXAMPLES.glob("*.toml")))
    from paperchain_sdk.testing.web import WebClient

    b = await WebClient(site.url).login("eddie")
    try:
        token = await b.csrf("/workflows")
        for name in saved:
            status, _, page = await b.get(f"/workflows/{name}")
            assert status == 200 and 'class="graph"' in page, name
            status, _, editor = await b.get(f"/workflows/{name}/edit")
            assert status == 200, name
            text = html.unescape(re.search(r"<textarea[^>]*>\n(.*?)</textarea>", editor, re.DOTALL).group(1))
            status, _, checked = await b.post("/workflows/validate", {"csrf": token, "toml": text})
            assert status == 200 and 'class="valid"' in checked, (name, checked)
        _, _, intake = await b.get("/workflows/intake")
        assert "watched folder" in intake and "<code>inbox</code>" in intake
    finally:
        await b.close()
