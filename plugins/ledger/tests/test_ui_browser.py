"""The ledger's pages in a real browser (the SDK's live server and chromium fixtures): verify by
dropping a file, by choosing one, the document page's Verify button; no CSP violation, no console
error, axe clean; Spanish."""

from __future__ import annotations

import hashlib

import pytest

import paperchain_ledger
from paperchain_ledger import runtime

pytestmark = pytest.mark.slow
CONFIG = {"components": {"ledger.merkle": {"scrypt_n": 1 << 12}}}
DROP = """(content) => {
  const data = new DataTransfer();
  data.items.add(new File([content], "minutes.txt", {type: "text/plain"}));
  return data;
}"""


@pytest.fixture
def server(paperchain_live_server):
    return paperchain_live_server(paperchain_ledger, config=CONFIG)


def notarize(server, content: bytes, name: str) -> str:
    digest = hashlib.sha256(content).hexdigest()
    runtime.book_for_kernel(server.api.kernel).notarize(digest, {"name": name})
    return digest


def test_verify_a_file_by_dropping_it_on_the_page(server, paperchain_watched):
    from playwright.sync_api import expect

    notarize(server, b"minutes of the meeting", "minutes.txt")
    watched = paperchain_watched(server)
    page = watched.login("vera", then="/p/ledger")
    expect(page.get_by_role("heading", name="Verify a file or a hash")).to_be_visible()
    dropped = page.evaluate_handle(DROP, "minutes of the meeting")
    page.dispatch_event("#ledger-drop", "drop", {"dataTransfer": dropped})
    found = page.locator("#ledger-found")
    expect(found).to_contain_text("Found: the ledger notarized this SHA-256.")
    expect(found).to_contain_text(hashlib.sha256(b"minutes of the meeting").hexdigest())
    expect(found).to_contain_text("verified against the checkpoint")
    with page.expect_download() as download:
        found.get_by_role("link", name="Download the receipt (JSON)").click()
    assert download.value.suggested_filename.startswith("ledger-receipt-")
    watched.check_accessibility()
    # A file the ledger never saw, chosen with the file input instead.
    page.get_by_label("File to verify").set_input_files(
        files=[{"name": "other.txt", "mimeType": "text/plain", "buffer": b"never notarized"}])
    expect(page.locator("#ledger-not-found")).to_contain_text(hashlib.sha256(b"never notarized").hexdigest())


def test_the_document_page_verifies_its_receipt(server, paperchain_watched):
    from playwright.sync_api import expect

    reply = server.call(server.api.request("POST", "/api/v1/documents?name=contract.txt", data=b"the contract",
                                           headers={"Content-Type": "application/octet-stream"}))
    notarize(server, b"the contract", "contract.txt")
    watched = paperchain_watched(server)
    page = watched.login("vera", then=f"/documents/{reply.json['id']}")
    panel = page.locator(".ledger-panel")
    expect(panel.get_by_role("heading", name="Ledger receipt")).to_be_visible()
    panel.get_by_role("button", name="Verify").click()
    expect(page.locator("#ledger-verified")).to_contain_text("Verified")
    watched.check_accessibility()


def test_the_accounts_page_and_spanish_dark_phone_width(server, paperchain_watched):
    from playwright.sync_api import expect

    watched = paperchain_watched(server)
    page = watched.login("eddie", then="/p/ledger/accounts")
    page.get_by_label("Name", exact=True).fill("alice")
    page.get_by_label("Passphrase (12 characters or more; it seals the account's key)").fill("a long passphrase!")
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator("#ledger-message")).to_contain_text("Account created")
    expect(page.locator("tr[data-account='alice']")).to_be_visible()
    watched.check_accessibility()
    spanish = paperchain_watched(server, locale="es-ES", extra_http_headers={"Accept-Language": "es-ES,es;q=0.9"},
                                 color_scheme="dark", viewport={"width": 375, "height": 740})
    page = spanish.page
    page.goto("/p/ledger")
    page.get_by_label("Usuario").fill("vera")
    page.get_by_label("Contraseña").fill("correct horse battery staple 42")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Verificar un archivo o un hash")).to_be_visible()
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    spanish.check_accessibility()
