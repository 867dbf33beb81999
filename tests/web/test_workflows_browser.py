"""The workflows pages in a real browser (the SDK's live server, chromium and watched contexts):
author a workflow whose error is shown at its line, fix it, insert a component, save, run it
from its form with a picked document and see it succeed live; compare two versions; Spanish at
phone width in the dark. No CSP violation, console error or serious axe finding on any page."""

from __future__ import annotations

import re

import pytest
from api_support import TestPlugin

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs Playwright")
expect = playwright_api.expect
expect.set_options(timeout=15_000)
PASSWORD = "correct horse battery staple 42"
BROKEN = '''name = "authored"
description = "Written in the browser"

[inputs]
pages = { type = "integer", required = true }

[[steps]]
id = "nap"
uses = "test.wait"
with = { seconds = "soon" }
'''


@pytest.fixture
def server(paperchain_live_server):
    return paperchain_live_server(TestPlugin())


def save(server, definition: dict) -> None:
    reply = server.call(server.api.request("PUT", f"/api/v1/workflows/{definition['name']}", json=definition))
    assert reply.status == 200, reply.json


def typed(page, text: str) -> None:
    """Replace the editor's text as typing would: the check runs on keyup."""
    editor = page.get_by_label("The workflow, in TOML")
    editor.fill(text)
    editor.press("End")


def test_author_a_workflow_fix_its_error_save_it_and_run_it(server, paperchain_watched):
    reply = server.call(server.api.request("POST", "/api/v1/documents?name=minutes.txt", data=b"Minutes of May",
                                           headers={"Content-Type": "text/plain"}))
    document_id = reply.json["id"]
    w = paperchain_watched(server)
    page = w.login("eddie", then="/workflows")
    page.get_by_role("link", name="New workflow").click()
    page.get_by_role("link", name="Blank").click()
    expect(page.get_by_role("heading", name="New workflow")).to_be_visible()
    w.check_accessibility()

    typed(page, BROKEN)
    problem = page.locator("#problems li")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("Line 10, column 10")
    expect(problem).to_contain_text("seconds")
    expect(page.locator("#toml-gutter span.problem")).to_have_text("10")
    problem.get_by_role("button").click()
    expect(page.get_by_label("The workflow, in TOML")).to_be_focused()

    typed(page, BROKEN.replace('"soon"', "0"))
    expect(page.locator("#problems .valid")).to_have_text("Valid: authored, 1 step.")
    expect(page.locator("#toml-gutter span.problem")).to_have_count(0)
    page.locator("summary", has_text="test.wait").click()
    page.get_by_role("button", name="Insert test.wait").click()
    expect(page.get_by_label("The workflow, in TOML")).to_have_value(re.compile(r'id = "wait"\nuses = "test.wait"\n$'))
    expect(page.locator("#problems .valid")).to_have_text("Valid: authored, 2 steps.")
    page.get_by_role("button", name="Create the workflow").click()

    expect(page).to_have_url(re.compile(r"/workflows/authored$"))
    expect(page.locator("svg.graph .graph-node")).to_have_count(2)
    w.check_accessibility()
    page.get_by_label("pages (required)").fill("2")
    page.get_by_label("Find documents by name").fill("minu")
    page.get_by_label(re.compile("minutes.txt")).check()
    expect(page.locator("#picker-kept input")).to_have_value(document_id)
    page.get_by_role("button", name="Start a run").click()
    expect(page).to_have_url(re.compile(r"/runs/run"))
    expect(page.locator("#run-live h1 .chip")).to_have_text("succeeded")


def test_compare_two_versions(server, paperchain_watched):
    steps = [{"id": "first", "uses": "test.wait", "with": {"seconds": 0}}]
    save(server, {"name": "twice", "steps": steps})
    save(server, {"name": "twice", "steps": [*steps, {"id": "second", "uses": "test.wait", "needs": ["first"]}]})
    w = paperchain_watched(server)
    page = w.login("vera", then="/workflows/twice")
    expect(page.locator("table.versions tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Start a run")).to_have_count(0)
    w.check_accessibility()
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Changes to twice")).to_be_visible()
    added = page.locator("tr.diff-added")
    expect(added.filter(has_text="[[steps]]")).to_have_count(1)
    expect(added.filter(has_text='id = "second"')).to_have_count(1)
    expect(page.locator("tr.diff-removed")).to_have_count(0)
    w.check_accessibility()


def test_the_workflows_pages_in_spanish_at_phone_width_in_the_dark(server, paperchain_watched):
    save(server, {"name": "fan", "on": {"manual": {}}, "inputs": {"lang": "eng"}, "steps": [
        {"id": "a", "uses": "test.wait"}, {"id": "b", "uses": "test.wait", "needs": ["a"]},
        {"id": "c", "uses": "test.wait", "needs": ["a"]}]})
    w = paperchain_watched(server, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"},
                           color_scheme="dark", viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/login")
    page.get_by_label("Usuario").fill("eddie")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Flujos de trabajo").click()
    for path, heading in (("/workflows", "Flujos de trabajo"), ("/workflows/fan", "fan"),
                          ("/workflows/fan/edit", "Editar fan"), ("/workflows/new", "Nuevo flujo de trabajo"),
                          ("/workflows/new?template=report", "Nuevo flujo de trabajo")):
        page.goto(path)
        expect(page.locator("main h1")).to_contain_text(heading)
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways at phone width: {width}"
        w.check_accessibility()
    page.goto("/workflows/fan")
    expect(page.get_by_role("heading", name="Ejecutarlo")).to_be_visible()
    expect(page.locator("svg.graph .graph-edge")).to_have_count(2)


def test_the_list_follows_runs_live(server, paperchain_watched):
    save(server, {"name": "nap", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    w = paperchain_watched(server)
    page = w.login("vera", then="/workflows")
    expect(page.locator("#live-badge")).to_have_text("Live")
    row = page.locator("tr[data-workflow='nap']")
    expect(row).to_contain_text("never")
    expect(row.get_by_role("button")).to_have_count(0)  # a viewer: no enable or disable
    run_id = server.call(server.api.request("POST", "/api/v1/runs", json={"workflow": "nap"})).json["runs"][0]
    expect(row.locator(f"a[href='/runs/{run_id}']")).to_be_visible()  # no reload: the run's events refreshed it
    expect(row).to_contain_text("100 %")
    w.check_accessibility()
