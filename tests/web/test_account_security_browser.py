"""The account page's password and two-factor forms in a real browser: Spanish, dark, at phone
width; no CSP violation, console error or serious axe finding (the watched context checks)."""

from __future__ import annotations

import re

import pyotp
import pytest
from api_support import TestPlugin

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs Playwright")
expect = playwright_api.expect
expect.set_options(timeout=15_000)
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def server(paperchain_live_server):
    return paperchain_live_server(TestPlugin())


def test_password_and_two_factor_in_spanish_in_the_dark_at_phone_width(server, paperchain_watched):
    w = paperchain_watched(server, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"},
                           color_scheme="dark", viewport={"width": 375, "height": 740})
    page = w.page
    page.goto("/account")
    page.get_by_label("Usuario").fill("vera")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Contraseña", exact=True)).to_be_visible()
    page.get_by_label("Contraseña actual").fill(PASSWORD)
    page.get_by_label("Contraseña nueva").fill("corta")
    page.get_by_role("button", name="Cambiar la contraseña").click()
    expect(page.locator("#error-new_password")).to_contain_text("al menos 12 caracteres")
    expect(page.get_by_label("Contraseña nueva")).to_have_attribute("aria-invalid", "true")
    w.check_accessibility()

    page.get_by_role("button", name="Configurar el inicio de sesión en dos pasos").click()
    secret = page.locator("#mfa-secret")
    expect(secret).to_have_text(re.compile(r"^[A-Z2-7]{16,}$"))
    w.check_accessibility()
    page.get_by_label("Código de la aplicación").fill(pyotp.TOTP(secret.inner_text()).now())
    page.get_by_role("button", name="Activar el inicio de sesión en dos pasos").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.locator("#account-notice")).to_contain_text("está activado")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    w.check_accessibility()


def test_an_admin_blocks_a_network_on_the_login_security_page(server, paperchain_watched):
    w = paperchain_watched(server)
    page = w.login("ada", then="/admin")
    page.get_by_role("link", name="Login security").click()
    expect(page.get_by_role("heading", name="Login security")).to_be_visible()
    expect(page.locator("#no-lockouts")).to_be_visible()
    page.get_by_label("Address or CIDR network").fill("198.51.100.0/24")
    page.get_by_label("Minutes (empty: until lifted)").fill("30")
    page.get_by_label("Reason").fill("scanner")
    page.get_by_role("button", name="Block", exact=True).click()
    expect(page.locator("#security-notice")).to_have_text("198.51.100.0/24 is blocked.")
    expect(page.locator("tr[data-block='198.51.100.0/24']")).to_contain_text("scanner")
    expect(page.get_by_role("button", name="Lift 198.51.100.0/24")).to_be_visible()
    w.check_accessibility()
