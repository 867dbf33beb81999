"""The administration pages over HTTP: users, every user's API keys, the audit log with its CSV
export, and the compliance report (a PDF through the export plugin, with ledger proofs)."""

from __future__ import annotations

import csv
import io
import re
import sys

import pytest
import sqlalchemy as sa
from api_support import TestPlugin

from paperchain.store import tables

PASSWORD = "correct horse battery staple 42"


def field_error(text: str, key: str) -> str:
    found = re.search(rf'<span class="field-error" id="error-{re.escape(key)}">([^<]*)</span>', text)
    return found.group(1) if found else ""


async def audit_rows(site, **filters) -> list[dict]:
    return await site.state.audit.query(limit=1000, **filters)


async def test_only_admins_reach_the_admin_pages_and_see_the_admin_link(site):
    for name in ("vera", "eddie"):
        b = await site.browser().login(name)
        for path in ("/admin", "/admin/users", "/admin/audit", "/admin/audit.csv",
                     "/admin/audit/compliance.pdf?since=2026-01-01&until=2026-01-02"):
            status, _, text = await b.get(path)
            assert status == 403 and "This needs the admin role" in text, (name, path)
        _, _, text = await b.get("/runs")
        assert 'href="/admin"' not in text
        status, _, text = await b.post("/admin/users/vera/role", {"csrf": await b.csrf(), "role": "admin"})
        assert status == 403 and site.state.accounts.users["vera"]["role"] == "viewer"
    ada = await site.browser().login("ada")
    status, _, text = await ada.get("/admin")
    assert status == 200 and 'href="/admin"' in text and 'aria-current="page">Admin' in text
    for href in ("/admin/users", "/admin/audit", "/admin/plugins", "/admin/system"):
        assert f'href="{href}"' in text


async def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(site):
    ada = await site.browser().login("ada")
    status, _, text = await ada.post("/admin/users/vera/role", {"role": "admin"})
    assert status == 403 and "security token is missing or wrong" in text
    status, _, _ = await ada.post("/admin/users/vera/role", {"csrf": await ada.csrf("/admin/users"), "role": "admin"},
                                  origin="http://evil.example")
    assert status == 403
    status, _, _ = await ada.post("/admin/users", {"name": "mallory", "password": PASSWORD, "role": "admin"})
    assert status == 403
    assert site.state.accounts.users["vera"]["role"] == "viewer" and "mallory" not in site.state.accounts.users


async def test_creating_a_user_shows_each_bad_field_and_then_creates_and_audits(site):
    ada = await site.browser().login("ada")
    token = await ada.csrf("/admin/users")
    status, _, text = await ada.post("/admin/users", {"csrf": token, "name": "new user!", "password": "short",
                                                      "role": "root"})
    assert status == 400
    assert "1 to 64 letters" in field_error(text, "name")
    assert "at least 12 characters (it has 5)" in field_error(text, "password")
    assert "root is not a role" in field_error(text, "role")
    status, _, text = await ada.post("/admin/users", {"csrf": token, "name": "nina", "password": "password1234",
                                                      "role": "editor"})
    assert status == 400 and "too common" in field_error(text, "password") and 'value="nina"' in text
    status, _, text = await ada.post("/admin/users", {"csrf": token, "name": "vera", "password": PASSWORD,
                                                      "role": "editor"})
    assert status == 400 and "There is a user vera already" in field_error(text, "name")
    assert "nina" not in site.state.accounts.users
    status, _, text = await ada.post("/admin/users", {"csrf": token, "name": "nina", "password": PASSWORD,
                                                      "role": "editor", "tenant": "acme"})
    assert status == 200 and "The user nina was created." in text
    assert site.state.accounts.users["nina"]["role"] == "editor" and site.state.accounts.users["nina"]["tenant"] == "acme"
    entry = (await audit_rows(site, target="user:nina"))[-1]
    assert (entry["actor"], entry["action"], entry["outcome"], entry["details"]) == \
        ("ada", "POST /admin/users", "success", {"role": "editor"})
    await (site.browser()).login("nina")


async def test_a_role_change_applies_to_the_users_next_page(site):
    vera, ada = await site.browser().login("vera"), await site.browser().login("ada")
    _, _, text = await vera.get("/runs")
    assert 'href="/upload"' not in text
    status, _, text = await ada.post("/admin/users/vera/role", {"csrf": await ada.csrf("/admin/users"), "role": "nobody"})
    assert status == 400 and "nobody is not a role" in field_error(text, "role-vera")
    status, headers, _ = await ada.post("/admin/users/vera/role", {"csrf": await ada.csrf("/admin/users"),
                                                                  "role": "editor"})
    assert status == 303 and headers["Location"] == "/admin/users"
    _, _, text = await vera.get("/runs")  # the same session: the new role at once
    assert 'href="/upload"' in text
    assert (await vera.get("/upload"))[0] == 200
    status, _, _ = await ada.post("/admin/users/vera/role", {"csrf": await ada.csrf("/admin/users"), "role": "viewer"})
    assert (await vera.get("/upload"))[0] == 403
    roles = [e["details"]["role"] for e in await audit_rows(site, target="user:vera", action="/role")]
    assert roles == ["nobody", "editor", "viewer"]
    status, _, text = await ada.post("/admin/users/ada/role", {"csrf": await ada.csrf("/admin/users"), "role": "viewer"})
    assert status == 409 and "cannot disable or demote yourself" in text
    assert site.state.accounts.users["ada"]["role"] == "admin"


async def test_disabling_ends_the_users_sessions_and_enabling_lets_them_back(site):
    eddie, ada = await site.browser().login("eddie"), await site.browser().login("ada")
    status, _, _ = await ada.post("/admin/users/eddie/disabled", {"csrf": await ada.csrf("/admin/users"), "disabled": "1"})
    assert status == 303 and site.state.accounts.users["eddie"]["disabled"]
    status, headers, _ = await eddie.get("/runs", follow=False)
    assert status == 303 and headers["Location"].startswith("/login")
    _, _, text = await ada.get("/admin/users")
    assert re.search(r'data-user="eddie">.*?disabled.*?Enable', text, re.DOTALL)
    await ada.post("/admin/users/eddie/disabled", {"csrf": await ada.csrf("/admin/users"), "disabled": "0"})
    await site.browser().login("eddie")
    status, _, text = await ada.post("/admin/users/ada/disabled", {"csrf": await ada.csrf("/admin/users"), "disabled": "1"})
    assert status == 409 and not site.state.accounts.users["ada"]["disabled"]


async def test_a_password_reset_is_shown_once_or_set_and_ends_the_sessions(site):
    vera, ada = await site.browser().login("vera"), await site.browser().login("ada")
    token = await ada.csrf("/admin/users")
    status, _, text = await ada.post("/admin/users/vera/password", {"csrf": token, "password": "vera12345678"})
    assert status == 400 and "must not be the user name" in field_error(text, "password-vera")
    await site.browser().login("vera")  # unchanged
    status, _, text = await ada.post("/admin/users/vera/password", {"csrf": token, "password": ""})
    assert status == 200 and "their sessions have ended" in text
    made = re.search(r'<code id="new-password">([^<]+)</code>', text).group(1)
    assert (await vera.get("/runs", follow=False))[0] == 303  # the old session ended
    await site.browser().login("vera", made)
    _, _, text = await ada.get("/admin/users")
    assert made not in text  # shown once
    status, _, text = await ada.post("/admin/users/vera/password", {"csrf": token, "password": "a fresh long passphrase"})
    assert status == 200 and 'id="new-password"' not in text
    await site.browser().login("vera", "a fresh long passphrase")
    entries = await audit_rows(site, target="user:vera", action="/password")
    assert [e["details"] for e in entries] == [{"password": True}] * 3
    assert all(made not in str(e) and "fresh" not in str(e) for e in entries)


async def test_an_admin_revokes_any_users_key(site):
    eddie, ada = await site.browser().login("eddie"), await site.browser().login("ada")
    _, _, text = await eddie.post("/account/keys", {"csrf": await eddie.csrf("/account"), "name": "scanner",
                                                    "role": "editor", "scopes": "*"})
    key = re.search(r'<code id="new-key">([^<]+)</code>', text).group(1)
    key_id = key.split("_")[1]
    assert (await site.request("GET", "/api/v1/auth/me", token=False, headers={"X-API-Key": key})).status == 200
    _, _, text = await ada.get("/admin/users")
    assert re.search(rf'data-key="{key_id}"><th scope="row">scanner</th><td>eddie</td>', text)
    status, _headers, _ = await ada.post(f"/admin/keys/{key_id}/revoke", {"csrf": await ada.csrf("/admin/users")})
    assert status == 303 and site.state.accounts.keys[key_id].revoked
    assert (await site.request("GET", "/api/v1/auth/me", token=False, headers={"X-API-Key": key})).status == 401
    status, _, text = await ada.post("/admin/keys/nosuchkey/revoke", {"csrf": await ada.csrf("/admin/users")})
    assert status == 404 and "There is no API key nosuchkey." in text
    assert (await audit_rows(site, target=f"key:{key_id}", actor="ada"))[-1]["action"] == "POST /admin/keys/{id}/revoke"


async def test_a_tenants_admin_sees_and_changes_only_its_tenant(site):
    accounts = site.state.accounts
    await accounts.create_user("tina", PASSWORD, "admin", tenant="acme")
    await accounts.create_user("alan", PASSWORD, "viewer", tenant="acme")
    await accounts.create_user("gus", PASSWORD, "viewer", tenant="globex")
    record, _ = await accounts.create_key(_principal(accounts, "gus"), "globex-key", None, ["*"], None)
    tina = await site.browser().login("tina")
    _, _, text = await tina.get("/admin/users")
    shown = set(re.findall(r'data-user="([^"]+)"', text))
    assert shown == {"tina", "alan"}
    assert "globex-key" not in text and 'name="tenant"' not in text
    token = await tina.csrf("/admin/users")
    for path, data in (("/admin/users/gus/role", {"role": "admin"}), ("/admin/users/ada/disabled", {"disabled": "1"}),
                       ("/admin/users/gus/password", {"password": ""})):
        status, _, text = await tina.post(path, {"csrf": token, **data})
        assert status == 404 and "There is no user" in text, path
    status, _, _ = await tina.post(f"/admin/keys/{record.id}/revoke", {"csrf": token})
    assert status == 404 and not accounts.keys[record.id].revoked
    status, _, text = await tina.post("/admin/users", {"csrf": token, "name": "ann", "password": PASSWORD,
                                                       "role": "viewer", "tenant": "globex"})
    assert status == 400 and "only in your tenant, acme" in field_error(text, "tenant")
    status, _, _ = await tina.post("/admin/users", {"csrf": token, "name": "ann", "password": PASSWORD, "role": "viewer"})
    assert status == 200 and accounts.users["ann"]["tenant"] == "acme"
    assert accounts.users["gus"]["role"] == "viewer" and not accounts.users["ada"]["disabled"]
    # The audit log: acme's entries only (tina's own changes are recorded with her tenant).
    ada = await site.browser().login("ada")
    await ada.post("/admin/users/gus/role", {"csrf": await ada.csrf("/admin/users"), "role": "editor"})
    _, _, text = await tina.get("/admin/audit")
    assert "user:ann" in text and "user:gus" in text  # her refused attempt on gus is hers
    assert "ada" not in re.findall(r'<th scope="row">([^<]+)</th>', text)
    _, _, body = await tina.get("/admin/audit.csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows and {r["tenant"] for r in rows} == {"acme"} and {r["actor"] for r in rows} == {"tina"}


def _principal(accounts, name):
    from paperchain_sdk.web import Principal

    user = accounts.users[name]
    return Principal(name=name, role=user["role"], kind="user", scopes=("*",), tenant=user["tenant"])


async def test_the_audit_log_filters_pages_and_refuses_bad_filters(site):
    audit = site.state.audit
    for i in range(60):
        await audit.record(actor="robot", action="POST /api/v1/documents", target=f"document:d{i:02d}", ip="10.0.0.7",
                           outcome="success" if i % 3 else "failed", status=201 if i % 3 else 500)
    ada = await site.browser().login("ada")
    _, _, text = await ada.get("/admin/audit?actor=robot")
    targets = re.findall(r"document:d(\d\d)", text)
    assert targets == [f"{i:02d}" for i in range(59, 9, -1)]  # newest first, 50 a page
    older = re.search(r'id="audit-older" rel="next" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    _, _, text = await ada.get("/admin/audit" + older)
    assert re.findall(r"document:d(\d\d)", text) == [f"{i:02d}" for i in range(9, -1, -1)]
    assert 'id="audit-older"' not in text
    _, _, text = await ada.get("/admin/audit?actor=robot&outcome=failed&target=d1")
    assert re.findall(r"document:d(\d\d)", text) == ["18", "15", "12"]
    _, _, text = await ada.get("/admin/audit?action=%25&actor=robot")  # a LIKE wildcard is a plain character
    assert "No audit entries match" in text
    status, _, text = await ada.get("/admin/audit?outcome=maybe&since=yesterday&until=2026-01-01")
    assert status == 400
    assert "maybe is not an outcome" in field_error(text, "outcome")
    assert "yesterday is not a date" in field_error(text, "since")
    status, _, text = await ada.get("/admin/audit?since=2026-02-01&until=2026-01-01")
    assert status == 400 and "before the start date" in field_error(text, "until")
    _, _, text = await ada.get("/admin/audit?since=2000-01-01&until=2000-01-02")
    assert "No audit entries match" in text


async def test_the_csv_export_has_the_filtered_entries_with_formulas_defused(site):
    audit = site.state.audit
    await audit.record(actor="=cmd|'/c calc'!A1", action="POST /x", target="+SUM(1,2)", ip="127.0.0.1",
                       outcome="failed", status=400, details={"note": "-2"})
    await audit.record(actor="@evil", action="POST /x", target="-1+1", ip="127.0.0.1", outcome="success", status=200)
    await audit.record(actor="plain", action="POST /y", target="doc", ip="127.0.0.1", outcome="success", status=200)
    ada = await site.browser().login("ada")
    status, headers, body = await ada.get("/admin/audit.csv?action=POST+%2Fx")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["id", "time", "actor", "tenant", "action", "target", "ip", "outcome", "status", "details"]
    assert [r[2] for r in rows[1:]] == ["'=cmd|'/c calc'!A1", "'@evil"]
    assert [r[5] for r in rows[1:]] == ["'+SUM(1,2)", "'-1+1"]
    assert rows[1][9] == '{"note": "-2"}' and rows[1][7] == "failed"
    status, _, text = await ada.get("/admin/audit.csv?outcome=nope")
    assert status == 400 and "nope is not an outcome" in text
    exported = await audit_rows(site, action="GET /admin/audit.csv")
    assert [(e["actor"], e["status"], e["outcome"]) for e in exported] == [("ada", 200, "success"), ("ada", 400, "failed")]


async def test_the_pages_speak_spanish(site):
    ada = await site.browser("es").login("ada")
    _, _, text = await ada.get("/admin/users")
    assert "<h1>Usuarios</h1>" in text and "Claves de API de todos los usuarios" in text
    status, _, text = await ada.post("/admin/users", {"csrf": await ada.csrf("/admin/users"), "name": "nico",
                                                      "password": "short", "role": "viewer"})
    assert status == 400 and "al menos 12 caracteres" in field_error(text, "password")
    _, _, text = await ada.get("/admin/audit")
    assert "<h1>Registro de auditoría</h1>" in text and "Informe de cumplimiento" in text


def pdf_text(data: bytes) -> str:
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


@pytest.fixture
async def full_site(paperchain_api):
    export = pytest.importorskip("paperchain_export")
    ledger = pytest.importorskip("paperchain_ledger")
    api = await paperchain_api(TestPlugin(), export, ledger)
    await api.state.accounts.create_user("ada", PASSWORD, "admin")
    await api.state.accounts.create_user("vera", PASSWORD, "viewer")
    Browser = sys.modules["tests.web.conftest"].Browser
    made = []
    api.browser = lambda language="en": made.append(Browser(api.url, language)) or made[-1]
    yield api
    for b in made:
        await b.close()


async def test_the_compliance_report_lists_the_changes_with_their_ledger_proofs(full_site):
    from datetime import date

    ada = await full_site.browser().login("ada")
    token = await ada.csrf("/admin/users")
    await ada.post("/admin/users/vera/role", {"csrf": token, "role": "editor"})
    from paperchain_ledger import runtime

    await runtime.flush_audit(full_site.kernel)  # anchored apart from the next change: a tree of two or more
    await ada.post("/admin/users", {"csrf": token, "name": "nina", "password": PASSWORD, "role": "viewer"})
    _, _, page = await ada.get("/admin/audit")
    assert 'action="/admin/audit/compliance.pdf"' in page and 'id="no-ledger"' not in page
    today = date.today().isoformat()
    listed = await full_site.state.audit.query(since=today)
    status, headers, body = await ada.get(f"/admin/audit/compliance.pdf?since={today}&until={today}")
    assert status == 200 and headers["Content-Type"] == "application/pdf" and body[:5] == b"%PDF-"
    assert headers["Content-Disposition"] == f'attachment; filename="compliance-{today}-{today}.pdf"'
    text = pdf_text(body)
    flat = " ".join(text.split())
    assert "Compliance report" in flat and "Verification summary" in flat
    for action, target in (("POST /admin/users/{name}/role", "user:vera"), ("POST /admin/users", "user:nina")):
        assert action in flat and target in flat
    assert "127.0.0.1" in flat and "Verified yes" in flat and "Proof verified yes" in flat
    tree_size = re.search(r"Tree size (\d+)", flat).group(1)
    assert int(tree_size) >= 2 and re.search(r"Inclusion proof [A-Za-z0-9+/]{43}=", flat)
    assert flat.count("Ledger entry") == len(listed) >= 2  # each entry of the period, with its proof
    # A row changed after it was anchored no longer verifies.
    changed = next(e for e in listed if e["target"] == "user:nina")
    audit = tables.audit
    await full_site.kernel.sql.write(sa.update(audit).where(audit.c.id == changed["id"]).values(actor="someone else"))
    _, _, body = await ada.get(f"/admin/audit/compliance.pdf?since={today}&until={today}")
    flat = " ".join(pdf_text(body).split())
    assert "Verified no" in flat and "the anchored copy differs from the entry in the database" in flat
    status, _, text = await ada.get("/admin/audit/compliance.pdf?since=2026-02-01&until=2026-01-01")
    assert status == 400 and "before the start date" in field_error(text, "report-until")
    status, _, text = await ada.get("/admin/audit/compliance.pdf?since=&until=")
    assert status == 400 and "Choose the first and the last day" in field_error(text, "report-since")


async def test_without_the_export_plugin_the_page_says_the_report_needs_it(site):
    ada = await site.browser().login("ada")
    _, _, text = await ada.get("/admin/audit")
    assert 'id="no-export"' in text and "export plugin (paperchain-export), which is not installed" in text
    assert 'id="no-ledger"' in text
    status, _, text = await ada.get("/admin/audit/compliance.pdf?since=2026-01-01&until=2026-01-02")
    assert status == 400 and 'id="error-report"' in text


async def test_without_the_ledger_the_report_says_there_are_no_proofs(paperchain_api):
    from datetime import date

    export = pytest.importorskip("paperchain_export")
    api = await paperchain_api(TestPlugin(), export)
    await api.state.accounts.create_user("ada", PASSWORD, "admin")
    ada = await sys.modules["tests.web.conftest"].Browser(api.url).login("ada")
    try:
        await ada.post("/admin/users", {"csrf": await ada.csrf("/admin/users"), "name": "nina", "password": PASSWORD,
                                        "role": "viewer"})
        today = date.today().isoformat()
        status, _, body = await ada.get(f"/admin/audit/compliance.pdf?since={today}&until={today}")
        flat = " ".join(pdf_text(body).split())
        assert status == 200 and "user:nina" in flat and "The ledger plugin is not installed" in flat
        assert "Ledger entry" not in flat
    finally:
        await ada.close()


async def test_a_tenants_admin_gets_a_report_of_its_tenant_with_its_proofs(full_site):
    from datetime import date

    accounts = full_site.state.accounts
    await accounts.create_user("tina", PASSWORD, "admin", tenant="acme")
    await accounts.create_user("alan", PASSWORD, "viewer", tenant="acme")
    ada, tina = await full_site.browser().login("ada"), await full_site.browser().login("tina")
    await ada.post("/admin/users/vera/role", {"csrf": await ada.csrf("/admin/users"), "role": "editor"})
    await tina.post("/admin/users/alan/role", {"csrf": await tina.csrf("/admin/users"), "role": "editor"})
    today = date.today().isoformat()
    status, _, body = await tina.get(f"/admin/audit/compliance.pdf?since={today}&until={today}")
    flat = " ".join(pdf_text(body).split())
    assert status == 200 and "Tenant: acme." in flat
    assert "user:alan" in flat and "user:vera" not in flat and "Who ada" not in flat
    assert "Verified yes" in flat and "Proof verified yes" in flat
    _, _, body = await ada.get(f"/admin/audit/compliance.pdf?since={today}&until={today}")
    flat = " ".join(pdf_text(body).split())
    assert "Tenants: all" in flat and "user:alan" in flat and "user:vera" in flat and "Verified yes" in flat
