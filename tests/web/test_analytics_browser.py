"""The analytics page in a real browser: its tables hold the API's numbers, its charts are drawn,
its insights are written in the reader's language; no CSP violation, no console error, no serious
accessibility violation (test_browser.py's server, browser and watcher)."""

from __future__ import annotations

import re

import pytest

paperchain_text = pytest.importorskip("paperchain_text", reason="the corpus figures read the text plugin's findings")

from api.test_analytics import ANALYSIS, ENGLISH, SPANISH, _recorded  # noqa: E402
from api_support import TestPlugin  # noqa: E402
from web.test_browser import CHROMIUM, LiveServer, chromium, expect  # noqa: E402, F401 - chromium is a fixture

from paperchain.web.i18n import Formatter  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: apt-get install chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Analyzed documents, quick and failing runs of today, and two weeks of a workflow that got flakier."""
    made = LiveServer(tmp_path_factory.mktemp("analytics"), plugins=[TestPlugin(), paperchain_text])
    api = made.api
    made.workflow(ANALYSIS["name"], ANALYSIS["steps"])
    made.workflow("quick", [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0.01}}])
    made.workflow("fragile", [{"id": "f", "uses": "test.fail_until_fixed",
                               "with": {"marker": str(tmp_path_factory.mktemp("never") / "missing")}}])
    for name, text in (("a.txt", ENGLISH), ("b.txt", SPANISH)):
        doc = made.call(api.request("POST", f"/api/v1/documents?name={name}", data=text.encode())).json["id"]
        started = made.call(api.request("POST", "/api/v1/runs", json={"workflow": "analysis", "documents": [doc]}))
        assert made.finished(started.json["runs"][0])["status"] == "succeeded"
    again = made.call(api.request("POST", "/api/v1/documents?name=a-again.txt", data=ENGLISH.encode()))
    assert again.status == 201  # the same bytes again: a duplicate upload
    for workflow in ("quick", "quick", "fragile"):
        made.finished(made.start(workflow))
    for i in range(10):
        made.call(_recorded(api, "", "flaky", "failed" if i < 1 else "succeeded", 9, [("ocr.page", 1.0)]))
        made.call(_recorded(api, "", "flaky", "failed" if i < 6 else "succeeded", 2, [("ocr.page", 1.5)]))
    made.call(api.kernel.journal.flush())
    yield made
    made.close()


@pytest.fixture
def watched(chromium, server):  # noqa: F811 - chromium is the fixture imported above
    from web.test_browser import Watched

    made = []

    def open_context(**options):
        made.append(Watched(chromium, server, **options))
        return made[-1]

    yield open_context
    for w in made:
        w.context.close()
        assert w.problems == [], w.problems


def _table(page, table_id: str) -> list[list[str]]:
    return page.locator(f"#{table_id} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.dataset.state || c.dataset.code || c.dataset.kind "
        "|| c.textContent.trim()))")


def _open_tables(page) -> None:
    for summary in page.locator("details > summary").all():
        summary.click()


def _expected(server, language: str) -> dict:
    """The API's numbers as the page writes them."""
    body = server.call(server.api.request("GET", "/api/v1/analytics")).json
    fmt = Formatter(language)
    number = fmt.number
    return {
        "table-runs": [[r["day"], r["workflow"], r["state"], number(r["runs"])] for r in body["runs"]],
        "table-documents": [[r["day"], r["media_type"], r["source"], number(r["documents"])] for r in body["documents"]],
        "table-steps": [[r["day"], r["component"], number(r["steps"]), fmt.seconds(r["p50"]), fmt.seconds(r["p95"])]
                        for r in body["steps"]],
        "table-languages": [[r["language"], number(r["documents"])] for r in body["languages"]],
        "table-keywords": [[r["term"], number(r["documents"])] for r in body["keywords"]],
        "table-entities": [[r["kind"], r["text"], number(r["documents"])] for r in body["entities"]],
        "table-duplicates": [[r["day"], number(r["exact"]), number(r["near"])] for r in body["duplicates"]],
        "failures": [(r["workflow"], number(r["runs"]), r["link"]) for r in body["failures"]],
    }


def test_the_page_shows_the_apis_numbers_charts_and_insights(watched, server):
    w = watched()
    page = w.login("ada", then="/analytics")
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics")).to_have_attribute(
        "aria-current", "page")
    insight = page.locator(".insight-failure_rate_rose")
    expect(insight).to_contain_text("Workflow flaky: 60% of its finished runs failed this week, up from 10%")
    expect(insight.get_by_role("link", name="See the evidence")).to_have_attribute(
        "href", re.compile(r"^/runs\?status=failed&workflow=flaky&since="))
    for name in ("documents", "runs", "steps-p50", "steps-p95", "duplicates"):
        expect(page.locator(f"[data-chart='{name}'] canvas").first).to_be_attached()
    _open_tables(page)
    expected = _expected(server, "en")
    for table_id in ("table-runs", "table-documents", "table-steps", "table-languages", "table-keywords",
                     "table-entities", "table-duplicates"):
        assert expected[table_id], table_id  # every series has numbers to compare
        assert _table(page, table_id) == expected[table_id], table_id
    rows = page.locator("#table-failures tbody tr")
    expect(rows).to_have_count(len(expected["failures"]))
    for i, (workflow, runs, link) in enumerate(expected["failures"]):
        expect(rows.nth(i).locator("td").nth(1)).to_have_text(workflow)
        expect(rows.nth(i).get_by_role("link", name=runs, exact=True)).to_have_attribute("href", link)
    w.check_accessibility()
    page.get_by_label("Period", exact=True).select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/analytics\?days=7$"))
    page.goto("/analytics?days=0")
    expect(page.locator("main")).to_contain_text("The period must be a whole number of days from 1 to 365.")


def test_the_page_in_spanish_dark_at_phone_width(watched, server):
    w = watched(locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"}, color_scheme="dark",
                viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/analytics")
    page.get_by_label("Usuario").fill("vera")
    page.get_by_label("Contraseña").fill("correct horse battery staple 42")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Analítica", level=1)).to_be_visible()
    expect(page.locator(".insight-failure_rate_rose")).to_contain_text(
        "Flujo de trabajo flaky: el 60\xa0% de sus ejecuciones terminadas fallaron esta semana")
    _open_tables(page)
    expected = _expected(server, "es")
    assert _table(page, "table-steps") == expected["table-steps"]
    assert _table(page, "table-runs") == expected["table-runs"]
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    w.check_accessibility()
