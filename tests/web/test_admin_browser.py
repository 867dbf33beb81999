"""The administration pages in a real browser (the SDK's live server, chromium and watched
contexts): a role change seen on the user's next page, the audit CSV and the compliance PDF
downloaded, Spanish at phone width in the dark; no CSP violation, console error or serious axe
finding on any of them."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from api_support import TestPlugin

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs Playwright")
expect = playwright_api.expect
expect.set_options(timeout=15_000)
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def server(paperchain_live_server):
    export = pytest.importorskip("paperchain_export")
    ledger = pytest.importorskip("paperchain_ledger")
    return paperchain_live_server(TestPlugin(), export, ledger)


def test_an_admin_changes_a_users_role_and_their_next_page_shows_it(server, paperchain_watched):
    vera = paperchain_watched(server).login("vera", then="/runs")
    expect(vera.get_by_role("heading", name="Runs")).to_be_visible()
    nav = vera.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Upload")).to_have_count(0)
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)

    w = paperchain_watched(server)
    page = w.login("ada", then="/admin")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    w.check_accessibility()
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    w.check_accessibility()
    page.get_by_label("Role of vera").select_option("editor")
    page.get_by_role("button", name="Change role vera").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_label("Role of vera")).to_have_value("editor")

    vera.reload()  # the same session, its next page: the editor's rights
    expect(nav.get_by_role("link", name="Upload")).to_be_visible()
    nav.get_by_role("link", name="Upload").click()
    expect(vera.get_by_role("heading", name="Upload")).to_be_visible()

    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Audit log").click()
    row = page.locator("tr", has_text="user:vera").first
    expect(row).to_contain_text("POST /admin/users/{name}/role")
    expect(row).to_contain_text('"role": "editor"')
    w.check_accessibility()


def test_the_audit_csv_and_the_compliance_pdf_download_with_their_contents(server, paperchain_watched):
    pdfium = pytest.importorskip("pypdfium2")
    w = paperchain_watched(server)
    page = w.login("ada", then="/admin/users")
    page.get_by_label("User name").fill("nina")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#admin-notice")).to_have_text("The user nina was created.")

    page.goto("/admin/audit?target=user:nina")
    expect(page.locator("tr[data-entry]")).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_role("link", name="Export these entries as CSV").click()
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text(encoding="utf-8"))))
    assert [(r["actor"], r["action"], r["target"], r["outcome"]) for r in rows] == \
        [("ada", "POST /admin/users", "user:nina", "success")]

    today = date.today().isoformat()
    page.get_by_label("First day").fill(today)
    page.get_by_label("Last day").fill(today)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the compliance report (PDF)").click()
    assert info.value.suggested_filename == f"compliance-{today}-{today}.pdf"
    pdf = pdfium.PdfDocument(info.value.path())
    text = " ".join(" ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).split())
    pdf.close()
    assert "Compliance report" in text and "user:nina" in text and "POST /admin/users" in text
    assert "Verification summary" in text and "Verified yes" in text and re.search(r"Tree size \d+", text)
    w.check_accessibility()


def test_spanish_field_errors_in_the_dark_at_phone_width(server, paperchain_watched):
    w = paperchain_watched(server, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"},
                           color_scheme="dark", viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/admin/users")
    page.get_by_label("Usuario").fill("ada")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Usuarios", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Principal").get_by_role("link", name="Administración")).to_be_visible()
    page.locator("form[action='/admin/users'] input[name=name]").fill("nico")
    page.locator("form[action='/admin/users'] input[name=password]").fill("corta")
    page.get_by_role("button", name="Crear usuario").click()
    expect(page.locator("#error-password")).to_contain_text("al menos 12 caracteres")
    expect(page.locator("form[action='/admin/users'] input[name=password]")).to_have_attribute("aria-invalid", "true")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    w.check_accessibility()
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", name="Registro de auditoría")).to_be_visible()
    expect(page.get_by_role("button", name="Descargar el informe de cumplimiento (PDF)")).to_be_visible()
    w.check_accessibility()
