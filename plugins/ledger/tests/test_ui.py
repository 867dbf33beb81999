"""The ledger's pages in the web UI (paperchain_ui), over HTTP with the SDK's paperchain_site:
verify a hash, receipts, the checkpoint, accounts, transfers, the document page's receipt panel;
roles, CSRF, tenants and Spanish."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

import paperchain_ledger
from paperchain_ledger import runtime

# cheap scrypt (tests make accounts); no audit anchoring, so the tree grows only by what a test appends
CONFIG = {"components": {"ledger.merkle": {"scrypt_n": 1 << 12, "audit_anchor": False}}}
PASSPHRASE = "a long enough passphrase"


@pytest.fixture
async def site(paperchain_site):
    return await paperchain_site(paperchain_ledger, config=CONFIG)


async def upload(site, content: bytes, name: str = "minutes.txt") -> str:
    reply = await site.request("POST", f"/api/v1/documents?name={name}", data=content,
                               headers={"Content-Type": "application/octet-stream"})
    return reply.json["id"]


async def notarize_by_workflow(site, document_id: str) -> None:
    await site.request("POST", "/api/v1/workflows", json={"name": "notary", "steps": [
        {"id": "notarize", "uses": "ledger.notarize"}]})
    reply = await site.request("POST", "/api/v1/runs", json={"workflow": "notary", "documents": [document_id]})
    run = await site.wait_run(reply.json["runs"][0])
    assert run["status"] == "succeeded", run


async def test_the_ledger_page_is_in_the_navigation_with_the_latest_checkpoint(site):
    vera = await site.client().login("vera")
    _, _, home = await vera.get("/documents")
    assert '<a href="/p/ledger">Ledger</a>' in home
    status, _, text = await vera.get("/p/ledger")
    assert status == 200 and "<h1>Ledger</h1>" in text
    size, _, note = runtime.book_for_kernel(site.kernel).log.latest()
    assert f'<dd id="ledger-size">{size}</dd>' in text and note.splitlines()[0] in text
    assert '/static/p/ledger/verify.js?v=' in text and "<script>" not in text


async def test_verifying_a_hash_finds_what_was_notarized_and_offers_the_receipt(site):
    content = b"minutes of the meeting"
    document_id = await upload(site, content)
    await notarize_by_workflow(site, document_id)
    digest = hashlib.sha256(content).hexdigest()
    vera = await site.client().login("vera")
    token = await vera.csrf("/p/ledger")
    status, _, text = await vera.post("/p/ledger/verify", {"csrf": token, "sha256": digest.upper()},
                                      headers={"HX-Request": "true"})
    assert status == 200 and 'id="ledger-found"' in text and "<html" not in text
    assert "verified against the checkpoint of" in text and "minutes.txt" in text
    index = int(re.search(r'/p/ledger/receipts/(\d+)"', text).group(1))
    status, headers, body = await vera.get(f"/p/ledger/receipts/{index}")
    receipt = json.loads(body)
    assert status == 200 and headers["Content-Disposition"] == f'attachment; filename="ledger-receipt-{index}.json"'
    assert receipt["format"] == "paperchain-ledger-receipt/1" and receipt["index"] == index
    status, _, text = await vera.post("/p/ledger/verify", {"csrf": token, "sha256": "0" * 64})
    assert status == 200 and 'id="ledger-not-found"' in text and "<h1>Ledger</h1>" in text  # without htmx: the page


async def test_a_malformed_hash_gets_a_clear_error(site):
    vera = await site.client().login("vera")
    token = await vera.csrf("/p/ledger")
    for bad in ("", "abc", "g" * 64, "<script>" + "a" * 56):
        status, _, text = await vera.post("/p/ledger/verify", {"csrf": token, "sha256": bad},
                                          headers={"HX-Request": "true"})
        assert status == 400 and "64 hexadecimal digits" in text and "<script>" not in text
    status, _, text = await vera.get("/p/ledger/receipts/x1")
    assert status == 400 and "index must be a whole number" in text
    status, _, _ = await vera.get("/p/ledger/receipts/999999")
    assert status == 404


async def test_verify_needs_the_csrf_token(site):
    vera = await site.client().login("vera")
    status, _, text = await vera.post("/p/ledger/verify", {"sha256": "0" * 64})
    assert status == 403 and "security token" in text


async def test_the_document_page_side_panel_shows_the_receipt_and_verifies_it(site):
    content = b"the contract, signed"
    document_id = await upload(site, content, "contract.txt")
    other_id = await upload(site, b"never notarized", "draft.txt")
    await notarize_by_workflow(site, document_id)
    vera = await site.client().login("vera")
    status, _, panel = await vera.get(f"/slots/document.side?document={document_id}")
    assert status == 200 and "Ledger receipt" in panel and hashlib.sha256(content).hexdigest() in panel
    assert f'hx-post="/p/ledger/documents/{document_id}/verify"' in panel
    _, _, empty = await vera.get(f"/slots/document.side?document={other_id}")
    assert "Ledger receipt" not in empty  # nothing notarized: no panel
    token = await vera.csrf("/p/ledger")
    status, _, verdict = await vera.post(f"/p/ledger/documents/{document_id}/verify", {"csrf": token},
                                         headers={"HX-Request": "true"})
    assert status == 200 and 'id="ledger-verified"' in verdict
    status, _, verdict = await vera.post(f"/p/ledger/documents/{other_id}/verify", {"csrf": token},
                                         headers={"HX-Request": "true"})
    assert status == 200 and 'id="ledger-not-verified"' in verdict


async def test_another_tenant_sees_none_of_it(site):
    content = b"acme's secret minutes"
    document_id = await upload(site, content)
    await notarize_by_workflow(site, document_id)
    index = runtime.book_for_kernel(site.kernel).find_document(hashlib.sha256(content).hexdigest())[0]
    await site.state.accounts.create_user("gina", "correct horse battery staple 42", "admin", tenant="globex")
    gina = await site.client().login("gina")
    token = await gina.csrf("/p/ledger")
    _, _, text = await gina.post("/p/ledger/verify", {"csrf": token, "sha256": hashlib.sha256(content).hexdigest()},
                                 headers={"HX-Request": "true"})
    assert 'id="ledger-not-found"' in text
    for path in (f"/p/ledger/receipts/{index}", f"/slots/document.side?document={document_id}"):
        status, _, _ = await gina.get(path)
        assert status == 404, path
    status, _, _ = await gina.post(f"/p/ledger/documents/{document_id}/verify", {"csrf": token})
    assert status == 404


async def test_accounts_balances_and_a_transfer(site):
    eddie = await site.client().login("eddie")
    token = await eddie.csrf("/p/ledger/accounts")
    for name in ("alice", "bob"):
        status, _, text = await eddie.post("/p/ledger/accounts", {"csrf": token, "name": name,
                                                                  "passphrase": PASSPHRASE})
        assert status == 200 and "Account created" in text, text
    accounts = {a["name"]: a["id"] for a in runtime.book_for_kernel(site.kernel).accounts()}
    status, _, text = await eddie.post("/p/ledger/mint", {"csrf": token, "account": accounts["alice"], "amount": "5"})
    assert status == 403  # minting is for admins
    ada = await site.client().login("ada")
    ada_token = await ada.csrf("/p/ledger/accounts")
    status, _, text = await ada.post("/p/ledger/mint", {"csrf": ada_token, "account": accounts["alice"],
                                                        "amount": "10"})
    assert status == 200 and "Units minted" in text
    transfer = {"csrf": token, "account": accounts["alice"], "passphrase": PASSPHRASE, "to": accounts["bob"],
                "amount": "3", "memo": "lunch"}
    status, _, text = await eddie.post("/p/ledger/transfers", transfer)
    assert status == 200 and "Transfer recorded" in text
    assert re.search(r'data-account="alice">.*?class="ledger-balance">7<', text)
    assert re.search(r'data-account="bob">.*?class="ledger-balance">3<', text)
    status, _, text = await eddie.post("/p/ledger/transfers", {**transfer, "amount": "100"})
    assert status == 400 and "The ledger refused it" in text
    status, _, text = await eddie.post("/p/ledger/transfers", {**transfer, "passphrase": "wrong passphrase!"})
    assert status == 400 and "wrong passphrase" in text
    status, _, text = await eddie.post("/p/ledger/transfers", {**transfer, "amount": "-2"})
    assert status == 400 and "whole number of units" in text
    assert runtime.book_for_kernel(site.kernel).balances() == {accounts["alice"]: 7, accounts["bob"]: 3}


async def test_a_viewer_sees_balances_but_no_write_forms_and_cannot_write(site):
    eddie = await site.client().login("eddie")
    token = await eddie.csrf("/p/ledger/accounts")
    await eddie.post("/p/ledger/accounts", {"csrf": token, "name": "carol", "passphrase": PASSPHRASE})
    vera = await site.client().login("vera")
    status, _, text = await vera.get("/p/ledger/accounts")
    assert status == 200 and 'data-account="carol"' in text
    assert 'action="/p/ledger/transfers"' not in text and 'action="/p/ledger/accounts"' not in text
    token = await vera.csrf("/p/ledger")
    status, _, _ = await vera.post("/p/ledger/accounts", {"csrf": token, "name": "mallory", "passphrase": PASSPHRASE})
    assert status == 403
    assert [a["name"] for a in runtime.book_for_kernel(site.kernel).accounts()] == ["carol"]


async def test_a_bad_account_name_or_short_passphrase_is_explained(site):
    eddie = await site.client().login("eddie")
    token = await eddie.csrf("/p/ledger/accounts")
    status, _, text = await eddie.post("/p/ledger/accounts", {"csrf": token, "name": "x", "passphrase": "short"})
    assert status == 400 and "at least 12 characters" in text
    status, _, text = await eddie.post("/p/ledger/accounts", {"csrf": token, "name": "<b>no</b>",
                                                              "passphrase": PASSPHRASE})
    assert status == 400 and "is not valid" in text and "<b>no</b>" not in text


async def test_the_pages_speak_spanish(site):
    vera = await site.client("es").login("vera")
    status, _, text = await vera.get("/p/ledger")
    assert status == 200 and "<h1>Registro contable</h1>" in text and "Verificar un archivo o un hash" in text
    _, _, text = await vera.get("/p/ledger/accounts")
    assert "Cuentas del registro" in text
