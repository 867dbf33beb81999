"""The web UI in a real browser: Debian's chromium driven by Playwright (never `playwright install`).

The server runs in a thread of its own with its own event loop; every page is checked for CSP
violations (the page's own ``securitypolicyviolation`` events), console errors and, with axe,
serious or critical accessibility violations.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from api_support import TestPlugin

from paperchain_sdk.testing.browser import CHROMIUM_ARGS
from paperchain_sdk.testing.browser import LiveServer as SdkLiveServer
from paperchain_sdk.testing.browser import Watched as SdkWatched
from paperchain_sdk.testing.web import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs Playwright")
expect = playwright_api.expect
expect.set_options(timeout=15_000)  # a shared CI machine can be slow; expect() still returns as soon as it holds
CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: apt-get install chromium")]
ARGS = CHROMIUM_ARGS
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class LiveServer(SdkLiveServer):
    """The SDK's live server (the app on a free loopback port, from a thread of its own), with the
    helpers these tests use."""

    def __init__(self, data_dir, plugins=None):
        super().__init__(plugins or [TestPlugin()], data_dir)

    def workflow(self, name: str, steps: list) -> None:
        reply = self.call(self.api.request("POST", "/api/v1/workflows", json={"name": name, "steps": steps}))
        assert reply.status in (200, 201), reply

    def start(self, workflow: str) -> str:
        return self.call(self.api.request("POST", "/api/v1/runs", json={"workflow": workflow})).json["runs"][0]

    def finished(self, run_id: str) -> dict:
        return self.call(self.api.wait_run(run_id))

    def upload_pdf(self, name: str, text: str) -> str:
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.new("RGB", (200, 280), "white").save(out, "PDF")
        reply = self.call(self.api.request("POST", f"/api/v1/documents?name={name}", data=out.getvalue(),
                                           headers={"Content-Type": "application/octet-stream"}))
        document_id = reply.json["id"]
        kernel = self.api.kernel

        async def set_text():
            await kernel.journal.execute("UPDATE documents SET text = ? WHERE id = ?", (text, document_id))
            kernel.documents.forget(document_id)

        self.call(set_text())
        return document_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    made = LiveServer(tmp_path_factory.mktemp("web"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def scan_server(tmp_path_factory):
    """A server with the OCR and export plugins and the example `scan` workflow."""
    ocr = pytest.importorskip("paperchain_ocr")
    export = pytest.importorskip("paperchain_export")
    if shutil.which("tesseract") is None:
        pytest.skip("needs tesseract: apt-get install tesseract-ocr tesseract-ocr-eng")
    made = LiveServer(tmp_path_factory.mktemp("scan"), plugins=[ocr, export])
    folder = tmp_path_factory.mktemp("workflows")
    (folder / "scan.toml").write_text((EXAMPLES / "workflows" / "scan.toml").read_text())
    assert made.call(made.api.kernel.workflows.load_dir(folder)) == ["scan"]
    yield made
    made.close()


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Watched(SdkWatched):
    """The SDK's watched browser context (CSP violations, console errors, axe); logs in to /runs."""

    def login(self, name: str, password: str = PASSWORD, then: str = "/runs"):
        return super().login(name, password, then)


@pytest.fixture
def watched(chromium, request):
    made = []

    def open_context(on=None, **options) -> Watched:
        made.append(Watched(chromium, on or request.getfixturevalue("server"), **options))
        return made[-1]

    yield open_context
    for w in made:
        w.context.close()
        assert w.problems == [], w.problems


def test_log_in_and_out_and_a_wrong_password(watched):
    w = watched()
    page = w.login("vera", "wrong password")
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    page = w.login("vera")
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.locator("#live-badge")).to_have_text("Live")
    page.get_by_role("button", name=re.compile("Log out")).click()
    expect(page.get_by_role("heading", name="Log in to Paperchain")).to_be_visible()
    page.goto("/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fruns"))


def test_a_new_run_appears_live_and_its_page_follows_it(watched, server):
    server.workflow("nap", [{"id": "nap", "uses": "test.wait", "with": {"seconds": 1}}])
    w = watched()
    page = w.login("vera")
    expect(page.locator("#live-badge")).to_have_text("Live")
    run_id = server.start("nap")
    row = page.locator(f"tr[data-run='{run_id}']")
    expect(row).to_be_visible()  # no reload: the event refreshed the list
    row.get_by_role("link").click()
    expect(page.locator("#run-live h1 .chip")).to_have_text("succeeded", timeout=15_000)
    expect(page.locator(".timeline rect")).to_have_count(1)
    w.check_accessibility()


def test_a_failing_run_shows_its_error_and_retry_works(watched, server, tmp_path):
    marker = tmp_path / "fixed"
    server.workflow("fragile", [{"id": "fragile", "uses": "test.fail_until_fixed", "with": {"marker": str(marker)}}])
    run_id = server.start("fragile")
    server.finished(run_id)
    w = watched()
    page = w.login("eddie", then=f"/runs/{run_id}")
    expect(page.locator("#run-error")).to_contain_text("the marker")
    marker.write_text("ok")
    page.get_by_role("button", name="Retry from the failed step").click()
    expect(page.locator("#run-live h1 .chip")).to_have_text("succeeded", timeout=15_000)
    expect(page.get_by_role("button", name="Retry from the failed step")).to_have_count(0)


def test_a_viewer_sees_no_write_controls(watched, server, tmp_path):
    server.workflow("broken", [{"id": "b", "uses": "test.fail_until_fixed", "with": {"marker": str(tmp_path / "no")}}])
    run_id = server.start("broken")
    server.finished(run_id)
    w = watched()
    page = w.login("vera", then=f"/runs/{run_id}")
    expect(page.locator("#run-error")).to_be_visible()
    expect(page.locator("form[method=post] button[type=submit]").filter(has_text=re.compile("Retry|Cancel"))).to_have_count(0)


def test_every_page_passes_csp_console_and_axe_checks(watched, server):
    server.workflow("quick", [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}])
    run_id = server.start("quick")
    run = server.finished(run_id)
    w = watched()
    w.page.goto("/login")
    w.check_accessibility()
    page = w.login("ada")
    doc_id = server.upload_pdf("minutes.pdf", "Minutes of the parish council meeting about the bridge.")
    for path in ("/", "/upload", "/runs", f"/runs/{run_id}", f"/batches/{run['batch']}", "/account", "/no/such/page", "/documents",
                 "/documents?view=cards", "/documents?q=bridge", f"/documents/{doc_id}"):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        w.check_accessibility()


def test_spanish_dark_mode_phone_width_and_the_search_key(watched):
    w = watched(locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"}, color_scheme="dark",
                viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/login")
    page.get_by_label("Usuario").fill("vera")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Ejecuciones")).to_be_visible()
    expect(page.locator("#live-badge")).to_have_text("En directo")
    expect(page.locator("body")).to_have_css("background-color", "rgb(13, 17, 23)")  # the system's dark theme
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    page.locator("body").press("/")
    expect(page.locator("#search")).to_be_focused()
    page.locator("#search").press("Escape")
    page.goto("/documents")
    page.keyboard.press("Tab")  # the first stop: the skip link, shown when focused
    skip = page.get_by_role("link", name="Saltar al contenido")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    expect(skip).to_have_css("outline-style", "solid")
    w.check_accessibility()
    for path in ("/", "/documents", "/account"):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways at phone width: {width}"


def test_the_theme_toggle_is_remembered(watched):
    w = watched(color_scheme="light")
    page = w.login("vera")
    expect(page.locator("body")).to_have_css("background-color", "rgb(255, 255, 255)")
    page.get_by_label("Theme").select_option("dark")
    page.get_by_role("button", name="Set theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("body")).to_have_css("background-color", "rgb(13, 17, 23)")
    w.check_accessibility()


def test_documents_search_and_editing_in_the_browser(watched, server):
    doc_id = server.upload_pdf("survey.pdf", "A survey of the old mill and the river crossing.")
    w = watched()
    page = w.login("eddie", then="/documents")
    row = page.locator(f"tr[data-document='{doc_id}']")
    expect(row.locator("img")).to_have_js_property("naturalWidth", 229)  # the server drew the first page
    page.get_by_label("Search the text").fill("mill")
    page.get_by_label("Search the text").press("Enter")
    expect(page.locator(f"tr[data-document='{doc_id}'] mark")).to_have_text("mill")
    page.get_by_role("link", name="survey.pdf").click()
    expect(page.locator("#document-text")).to_contain_text("old mill")
    page.get_by_label("Tags (comma-separated)").fill("mills, rivers")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Tags (comma-separated)")).to_have_value("mills, rivers")
    expect(page.get_by_role("img", name="Page 1")).to_be_visible()


def test_drop_files_on_the_upload_page_and_watch_their_runs_finish_live(watched, server):
    server.workflow("slowscan", [{"id": "read", "uses": "test.wait", "with": {"seconds": 1}}])
    w = watched()
    page = w.login("eddie", then="/upload")
    expect(page.locator("#live-badge")).to_have_text("Live")
    page.get_by_label("Then run").select_option("slowscan")
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, "PDF")
    transfer = page.evaluate_handle("""(bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "dropped.pdf", {type: "application/pdf"}));
        transfer.items.add(new File([], "empty.pdf", {type: "application/pdf"}));
        return transfer;
    }""", list(out.getvalue()))
    w.error_pages.add("400")  # the empty file's refusal: the browser logs every 4xx answer
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    done = page.locator("#uploads li", has_text="dropped.pdf")
    expect(done).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#uploads li", has_text="empty.pdf")).to_contain_text("empty.pdf is empty.")
    w.check_accessibility()
    done.get_by_role("link", name="Open the document").click()
    expect(page.get_by_role("heading", name="dropped.pdf")).to_be_visible()


def test_home_draws_its_charts_from_the_server_numbers(watched, server):
    server.workflow("tick", [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}])
    server.finished(server.start("tick"))
    w = watched(color_scheme="dark")
    page = w.login("vera", then="/")
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    expect(page.locator("#chart-throughput canvas")).to_have_count(1)
    expect(page.locator("#chart-steps canvas")).to_have_count(1)
    w.check_accessibility()


def test_in_spanish_drop_a_scan_watch_it_through_ocr_read_it_and_download_the_searchable_pdf(watched, scan_server):
    w = watched(on=scan_server, locale="es-ES", extra_http_headers={"Accept-Language": "es"})
    page = w.page
    page.goto("/upload")
    page.get_by_label("Usuario").fill("eddie")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Subir")).to_be_visible()
    expect(page.get_by_label("Después ejecutar")).to_have_value("scan")  # chosen for the person
    expect(page.locator("#live-badge")).to_have_text("En directo")
    scan = (EXAMPLES / "documents" / "survey-scan.pdf").read_bytes()
    transfer = page.evaluate_handle("""(bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "survey-scan.pdf", {type: "application/pdf"}));
        return transfer;
    }""", list(scan))
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    item = page.locator("#uploads li", has_text="survey-scan.pdf")
    expect(item).to_contain_text("Procesando")
    expect(item).to_have_attribute("data-state", "succeeded", timeout=240_000)
    item.get_by_role("link", name="Abrir la ejecución").click()
    expect(page.locator("#run-live h1 .chip")).to_have_text("completada")
    w.check_accessibility()
    with page.expect_download() as download:
        page.locator(".files a[download]", has_text=re.compile(r"\.pdf$")).first.click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    document_id = page.locator("dl.facts code").first.inner_text()
    page.get_by_role("link", name=re.compile(r"Vista previa .*\.md$")).click()
    expect(page.locator("pre.preview")).not_to_be_empty()  # the Markdown export, shown as text
    w.check_accessibility()
    page.goto(f"/documents/{document_id}")
    expect(page.get_by_role("heading", name="Texto")).to_be_visible()
    with page.expect_download() as again:  # the searchable PDF, from the document's own page too
        page.get_by_role("link", name="survey-scan.searchable.pdf", exact=True).click()
    assert Path(again.value.path()).read_bytes().startswith(b"%PDF")
    expect(page.locator("#document-text")).not_to_be_empty()
    w.check_accessibility()


def test_after_losing_the_connection_the_page_reconnects_and_catches_up(watched, server):
    server.workflow("blip", [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}])
    w = watched()
    page = w.login("vera")
    badge = page.locator("#live-badge")
    expect(badge).to_have_text("Live")
    hub = server.api.state.hub

    async def cut():
        for subscriber in list(hub.subscribers):
            hub.drop(subscriber)  # as for a client that fell behind: closed, told to resume

    server.call(cut())
    expect(badge).to_have_text("Offline: reconnecting")
    run_id = server.start("blip")  # happens while the page is not connected
    server.finished(run_id)
    expect(badge).to_have_text("Live")
    expect(page.locator(f"tr[data-run='{run_id}']")).to_be_visible()


def test_a_new_notification_shows_in_the_header_count_live(watched, server):
    import time

    kernel = server.api.kernel

    async def deliver(message_id: str):
        await kernel.journal.execute(
            "CREATE TABLE IF NOT EXISTS notify_inbox (id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL, "
            "body TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL, read REAL, tenant TEXT)", ())
        await kernel.journal.execute("INSERT INTO notify_inbox VALUES (?, 'ada', 'Scan finished', 'All pages read', "
                                     "'{}', ?, NULL, NULL)", (message_id, time.time()))
        await kernel.emit("notification.created", message_id, {"user": "ada", "title": "Scan finished"})

    w = watched()
    page = w.login("ada")
    expect(page.locator("#live-badge")).to_have_text("Live")
    server.call(deliver("n-live-1"))
    expect(page.locator("#unread")).to_contain_text("1")
    page.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(page.locator("li[data-notification='n-live-1']")).to_contain_text("Scan finished")
    w.check_accessibility()
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#unread")).to_be_empty()
