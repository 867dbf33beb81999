"""Pages that plugins add (the paperchain_ui hook): mounted behind the core's guard, with their
navigation entries, panels in the core pages' slots, templates, translations and static files."""

from __future__ import annotations

import pytest
from api_support import TestPlugin
from web.ui_demo import (
    HERE,
    demo_page,
    document_page,
    document_panel,
    failing_panel,
    home_panel,
    save_note,
)

from paperchain.web.guard import CSP
from paperchain_sdk import hookimpl
from paperchain_sdk.ui import NavEntry, Page, Panel, PluginUI


class Demo:
    """Pages (one by "module:function"), nav entries, two panels, templates, a catalog, static files."""

    @hookimpl
    def paperchain_ui(self):
        return PluginUI(
            pages=[Page(path="/", handler=demo_page),
                   Page(path="/notes", method="POST", handler=save_note, role="editor"),
                   Page(path="/admin", handler="web.ui_demo:admin_page", role="admin"),
                   Page(path="/documents/{id}", handler=document_page)],
            nav=[NavEntry(label="Demo page", path="/"), NavEntry(label="Demo admin", path="/admin", role="admin")],
            panels=[Panel(slot="document.side", handler=document_panel),
                    Panel(slot="home.widgets", handler=home_panel)],
            templates=HERE / "templates", catalogs=HERE / "catalogs", static=HERE / "static")


class Broken:
    """A plugin whose description fails."""

    @hookimpl
    def paperchain_ui(self, kernel):
        raise RuntimeError("no UI today")


class Clashing:
    """A plugin with two pages at the same path: its UI is refused, the rest stands."""

    @hookimpl
    def paperchain_ui(self):
        return PluginUI(pages=[Page(path="/", handler=demo_page), Page(path="/", handler=demo_page)],
                        nav=[NavEntry(label="Clash")])


class Flaky:
    """A plugin whose panel fails."""

    @hookimpl
    def paperchain_ui(self):
        return PluginUI(panels=[Panel(slot="document.side", handler=failing_panel)])


@pytest.fixture
async def demo(paperchain_site):
    return await paperchain_site(TestPlugin(), Demo(), Broken(), Flaky(), Clashing())


async def upload(site, name: str = "note.txt") -> str:
    reply = await site.request("POST", f"/api/v1/documents?name={name}", data=b"hello",
                               headers={"Content-Type": "application/octet-stream"})
    return reply.json["id"]


async def test_a_plugin_page_is_served_under_its_path_and_listed_in_the_navigation(demo):
    vera = await demo.client().login("vera")
    status, headers, text = await vera.get("/p/demo")
    assert status == 200 and "<h1>Demo page</h1>" in text and '<p id="who">vera viewer demo</p>' in text
    assert headers["Content-Security-Policy"] == CSP
    assert '<a href="/p/demo" aria-current="page">Demo page</a>' in text
    assert "/p/demo/admin" not in text  # the admin's entry is not shown to a viewer
    assert 'action="/p/demo/notes"' not in text  # nor the editor's form
    _, _, home = await vera.get("/documents")
    assert '<a href="/p/demo">Demo page</a>' in home
    ada = await demo.client().login("ada")
    _, _, text = await ada.get("/documents")
    assert '<a href="/p/demo/admin">Demo admin</a>' in text


async def test_a_stranger_is_sent_to_log_in_first(demo):
    status, headers, _ = await demo.client().get("/p/demo", follow=False)
    assert status == 303 and headers["Location"].startswith("/login?next=%2Fp%2Fdemo")


async def test_roles_are_enforced_on_plugin_pages(demo):
    vera = await demo.client().login("vera")
    status, _, text = await vera.get("/p/demo/admin")
    assert status == 403 and "This needs the admin role; you are viewer." in text
    token = await vera.csrf("/p/demo")
    status, _, text = await vera.post("/p/demo/notes", {"csrf": token, "note": "forged"})
    assert status == 403 and "forged" not in text
    eddie = await demo.client().login("eddie")
    token = await eddie.csrf("/p/demo")
    status, _, text = await eddie.post("/p/demo/notes", {"csrf": token, "note": "<i>kept</i>"})
    assert status == 200 and '<p id="note-saved">&lt;i&gt;kept&lt;/i&gt;</p>' in text


async def test_a_plugin_form_needs_the_csrf_token_and_our_origin(demo):
    eddie = await demo.client().login("eddie")
    status, _, text = await eddie.post("/p/demo/notes", {"note": "x"})
    assert status == 403 and "security token" in text
    token = await eddie.csrf("/p/demo")
    status, _, text = await eddie.post("/p/demo/notes", {"csrf": token, "note": "x"}, origin="https://evil.example")
    assert status == 403 and "another site" in text


async def test_plugin_pages_speak_spanish_from_the_plugin_catalog(demo):
    vera = await demo.client("es").login("vera")
    status, _, text = await vera.get("/p/demo")
    assert status == 200 and "<h1>Página de prueba</h1>" in text
    assert ">Inicio</a>" in text  # the core's translation wins over a plugin's for the same msgid


async def test_the_document_side_slot_shows_each_plugin_panel_and_isolates_a_failing_one(demo):
    document_id = await upload(demo, "letter.txt")
    vera = await demo.client().login("vera")
    _, _, page = await vera.get(f"/documents/{document_id}")
    assert f'hx-get="/slots/document.side?document={document_id}"' in page
    status, _, text = await vera.get(f"/slots/document.side?document={document_id}", headers={"HX-Request": "true"})
    assert status == 200 and '<p id="demo-panel">Demo panel: letter.txt (2cf24dba5fb0)</p>' in text
    assert "The flaky plugin&#39;s panel failed; it has been logged." in text
    status, _, text = await vera.get("/slots/document.side?document=nope")
    assert status == 404 and "There is no document nope" in text
    status, _, _ = await vera.get("/slots/nowhere")
    assert status == 404


async def test_a_plugin_sees_only_the_documents_of_the_user_tenant(demo):
    document_id = await upload(demo, "ours.txt")
    vera = await demo.client().login("vera")
    status, _, text = await vera.get(f"/p/demo/documents/{document_id}")
    assert status == 200 and '<p id="note-saved">ours.txt</p>' in text
    await demo.state.accounts.create_user("tina", "correct horse battery staple 42", "admin", tenant="acme")
    tina = await demo.client().login("tina")
    for path in (f"/p/demo/documents/{document_id}", f"/slots/document.side?document={document_id}"):
        status, _, text = await tina.get(path)
        assert status == 404 and "ours.txt" not in text, path


async def test_a_panel_that_returns_text_is_escaped(demo):
    vera = await demo.client().login("vera")
    _, _, home = await vera.get("/")
    assert 'hx-get="/slots/home.widgets"' in home
    status, _, text = await vera.get("/slots/home.widgets")
    assert status == 200 and "&lt;b&gt;text, not HTML&lt;/b&gt;" in text and "<b>" not in text


async def test_a_broken_plugin_ui_leaves_the_core_pages_working_and_is_shown_to_admins(demo):
    ada = await demo.client().login("ada")
    status, _, text = await ada.get("/documents")
    assert status == 200 and "<h1>Documents</h1>" in text
    status, _, text = await ada.get("/")
    assert status == 200 and "The broken plugin&#39;s pages failed to load: RuntimeError: no UI today" in text
    assert "The clashing plugin&#39;s pages failed to load: ValueError: two of its pages" in text
    assert "Clash</a>" not in text and "Demo page</a>" in text
    vera = await demo.client().login("vera")
    _, _, text = await vera.get("/")
    assert "no UI today" not in text


async def test_plugin_static_files_are_served_with_a_content_hash_and_nothing_outside(demo):
    vera = await demo.client().login("vera")
    status, headers, body = await vera.get("/static/p/demo/demo.js?v=1")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "demo" in body
    for path in ("/static/p/demo/%2e%2e/templates/page.html", "/static/p/demo/..%2f__init__.py",
                 "/static/p/nobody/demo.js", "/static/p/demo/missing.js"):
        status, _, _ = await vera.get(path)
        assert status == 404, path


def test_a_description_is_checked_when_made():
    with pytest.raises(ValueError, match="path"):
        Page(path="p/../x", handler="m:f")
    with pytest.raises(ValueError, match="role"):
        NavEntry(label="x", role="owner")
    with pytest.raises(TypeError):
        NavEntry(label=None)
    with pytest.raises(ValueError):
        Panel(slot="nowhere", handler="m:f")
    with pytest.raises(ValueError):
        Page(path="/", handler="m:f", method="TRACE")
    assert PluginUI(pages=[Page(path="/", handler="m:f")]).pages[0].method == "GET"


async def test_a_plugin_made_by_the_scaffold_adds_a_page_to_the_navigation(paperchain_site, tmp_path, monkeypatch):
    import importlib
    import sys

    from paperchain.scaffold import create_plugin

    root = create_plugin("invoice-desk", "analyzer", tmp_path)
    monkeypatch.syspath_prepend(str(root))
    try:
        plugin = importlib.import_module("paperchain_invoice_desk")
        site = await paperchain_site(plugin)
        vera = await site.client().login("vera")
        _, _, home = await vera.get("/documents")
        assert '<a href="/p/invoice_desk">InvoiceDesk</a>' in home
        status, _, text = await vera.get("/p/invoice_desk")
        assert status == 200 and "<h1>InvoiceDesk</h1>" in text and "<code>invoice-desk.count</code>" in text
        _, _, text = await (await site.client("es").login("vera")).get("/p/invoice_desk")
        assert "Sesión iniciada como" in text
    finally:
        for name in [m for m in sys.modules if m.startswith("paperchain_invoice_desk")]:
            del sys.modules[name]


@pytest.mark.slow
def test_plugin_pages_and_panels_in_a_real_browser(paperchain_live_server, paperchain_watched):
    expect = pytest.importorskip("playwright.sync_api").expect
    server = paperchain_live_server(TestPlugin(), Demo())
    reply = server.call(server.api.request("POST", "/api/v1/documents?name=letter.txt", data=b"hello",
                                           headers={"Content-Type": "application/octet-stream"}))
    watched = paperchain_watched(server)
    page = watched.login("eddie")
    expect(page.locator("#slot-home-widgets")).to_contain_text("<b>text, not HTML</b>")
    page.get_by_role("navigation").get_by_role("link", name="Demo page").click()
    expect(page.get_by_role("heading", name="Demo page")).to_be_visible()
    page.get_by_label("Note").fill("from the browser")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#note-saved")).to_have_text("from the browser")
    watched.check_accessibility()
    page.goto(f"/documents/{reply.json['id']}")
    expect(page.locator("#demo-panel")).to_have_text("Demo panel: letter.txt (2cf24dba5fb0)")
    watched.check_accessibility()
