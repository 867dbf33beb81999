"""The System and Plugins admin pages in a real browser (Debian's chromium through Playwright):
English and Spanish, dark and at phone width, no CSP violation or console error, no serious or
critical axe finding; a viewer and an editor get the 403 page."""

from __future__ import annotations

import re

import pytest
from api_support import TestPlugin

from paperchain_sdk.testing.web import PASSWORD

from .test_admin_system import SECRET, VaultPlugin, add_failed_plugin

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs Playwright")
expect = playwright_api.expect
pytestmark = pytest.mark.slow
CONFIG = {"components": {"vault.fetch": {"url": f"https://bot:{SECRET}@vault.example/v1", "password": SECRET,
                                         "password_env": "VAULT_PASSWORD", "timeout": 9.5}}}


@pytest.fixture
def server(paperchain_live_server):
    made = paperchain_live_server(TestPlugin(), VaultPlugin(), config=CONFIG)
    made.loop.call_soon_threadsafe(add_failed_plugin, made.api.kernel)
    return made


def test_the_system_and_plugins_pages_in_english(paperchain_watched, server):
    w = paperchain_watched(server)
    page = w.login("ada", then="/admin/system")
    expect(page.get_by_role("heading", name="System", exact=True)).to_be_visible()
    expect(page.locator("#readiness")).to_have_text("Ready")
    expect(page.locator("#workers")).to_have_text("One process")
    expect(page.get_by_role("link", name="1 failed")).to_be_visible()
    w.check_accessibility()
    page.get_by_role("link", name="1 failed").click()
    expect(page.get_by_role("heading", name="Plugins and components")).to_be_visible()
    failed = page.locator("#plugin-misspelt")
    expect(failed).to_contain_text("failed to load")
    expect(failed).to_contain_text("To fix it:")
    expect(failed).to_contain_text("paperchain_actionz")
    vault = page.locator("#component-vault\\.fetch")
    expect(vault.get_by_role("row", name=re.compile("password_env"))).to_contain_text("VAULT_PASSWORD")
    expect(vault.get_by_role("row", name=re.compile(r"^password\b"))).to_contain_text("••••••")
    assert SECRET not in page.content()
    w.check_accessibility()


def test_the_pages_in_spanish_dark_at_phone_width(paperchain_watched, server):
    w = paperchain_watched(server, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"},
                           color_scheme="dark", viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/admin/system")
    page.get_by_label("Usuario").fill("ada")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Sistema", exact=True)).to_be_visible()
    expect(page.locator("#workers")).to_have_text("Un proceso")
    w.check_accessibility()
    for path, heading in (("/admin/system", "Sistema"), ("/admin/plugins", "Plugins y componentes")):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways at phone width: {width}"
        w.check_accessibility()
    expect(page.locator("#plugin-misspelt")).to_contain_text("Para arreglarlo:")


@pytest.mark.parametrize(("name", "path"), [("vera", "/admin/system"), ("eddie", "/admin/plugins")])
def test_a_viewer_or_an_editor_gets_the_403_page(paperchain_watched, server, name, path):
    w = paperchain_watched(server)
    page = w.login(name, then=path)
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("This needs the admin role")
    assert SECRET not in page.content() and "VAULT_PASSWORD" not in page.content()
    w.check_accessibility()
