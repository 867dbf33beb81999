"""The account page's password and two-factor forms, and the admin's login security page (lockouts,
address blocks, resetting a second factor) over HTTP."""

from __future__ import annotations

import re
import time

import pyotp

from paperchain_sdk.testing.web import PASSWORD

NEW_PASSWORD = "violet kettle drums under 77 moons"


def field_error(text: str, key: str) -> str:
    found = re.search(rf'<span class="field-error" id="error-{re.escape(key)}">([^<]*)</span>', text)
    return found.group(1) if found else ""


async def audit_rows(site, **filters) -> list[dict]:
    return await site.state.audit.query(limit=1000, **filters)


def _secret(text: str) -> str:
    return re.search(r'<code id="mfa-secret" class="wrap">([A-Z2-7]+)</code>', text).group(1)


def _codes(text: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9-]+)</code></li>", text)


async def _login_with_code(site, name: str, password: str, code: str):
    b = site.browser()
    status, _, text = await b.post("/login", {"username": name, "password": password, "next": "/"})
    assert status == 401 and "Enter the code from your authenticator app" in text
    ticket = re.search(r'name="ticket" value="([^"]+)"', text).group(1)
    status, _, text = await b.post("/login", {"ticket": ticket, "code": code, "next": "/"})
    return status, b


async def test_a_password_change_checks_the_policy_and_the_current_password_and_ends_other_sessions(site):
    vera, elsewhere = await site.browser().login("vera"), await site.browser().login("vera")
    token = await vera.csrf("/account")
    status, _, text = await vera.post("/account/password", {"csrf": token, "current_password": PASSWORD,
                                                            "new_password": "short"})
    assert status == 400 and "at least 12 characters (it has 5)" in field_error(text, "new_password")
    status, _, text = await vera.post("/account/password", {"csrf": token, "current_password": "not it at all",
                                                            "new_password": NEW_PASSWORD})
    assert status == 403 and "current password is wrong" in field_error(text, "current_password")
    status, _, text = await vera.post("/account/password", {"csrf": token, "current_password": PASSWORD,
                                                            "new_password": NEW_PASSWORD})
    assert status == 200 and "Your password was changed" in text
    status, _, text = await vera.get("/account", follow=False)
    assert status == 200 and "vera" in text  # this session goes on, with a fresh cookie
    status, headers, _ = await elsewhere.get("/account", follow=False)
    assert status == 303 and headers["Location"].startswith("/login")
    status, _, _ = await site.browser().post("/login", {"username": "vera", "password": PASSWORD, "next": "/"})
    assert status == 401
    await site.browser().login("vera", NEW_PASSWORD)
    outcomes = [e["outcome"] for e in await audit_rows(site, target="user:vera") if e["action"] == "POST /account/password"]
    assert outcomes == ["failed", "denied", "success"]


async def test_two_factor_set_up_confirmed_then_asked_at_login_and_a_recovery_code_works_once(site):
    eddie = await site.browser().login("eddie")
    token = await eddie.csrf("/account")
    status, _, text = await eddie.post("/account/mfa/confirm", {"csrf": token, "code": "123456"})
    assert status == 409 and "No second factor is being set up" in field_error(text, "mfa")
    status, _, _ = await eddie.post("/account/mfa/setup", {"csrf": token})
    assert status == 303
    _, _, text = await eddie.get("/account")
    secret = _secret(text)
    assert "otpauth://totp/" in text and f"secret={secret}" in text
    status, _, text = await eddie.post("/account/mfa/confirm", {"csrf": token, "code": "000000"})
    assert status == 400 and "wrong, expired or used already" in field_error(text, "code")
    totp = pyotp.TOTP(secret)
    status, _, text = await eddie.post("/account/mfa/confirm", {"csrf": token, "code": totp.now()})
    codes = _codes(text)
    assert status == 200 and len(codes) == 10 and "Two-factor login is on" in text
    _, _, text = await eddie.get("/account")
    assert "Recovery codes left: 10" in text and not _codes(text)  # shown only once
    status, _, text = await eddie.post("/account/mfa/setup", {"csrf": token})
    assert status == 409 and "You have a second factor already" in field_error(text, "mfa")
    status, _ = await _login_with_code(site, "eddie", PASSWORD, totp.at(time.time() + 30))
    assert status == 303
    status, _ = await _login_with_code(site, "eddie", PASSWORD, codes[0])
    assert status == 303
    status, _ = await _login_with_code(site, "eddie", PASSWORD, codes[0])
    assert status == 401
    # New recovery codes and turning it off both need a current code.
    status, _, text = await eddie.post("/account/mfa/recovery-codes", {"csrf": token, "code": "123456"})
    assert status == 403 and "wrong" in field_error(text, "codes_code")
    status, _, text = await eddie.post("/account/mfa/recovery-codes", {"csrf": token, "code": codes[1]})
    fresh = _codes(text)
    assert status == 200 and len(fresh) == 10 and not set(fresh) & set(codes)
    status, _, text = await eddie.post("/account/mfa/disable", {"csrf": token, "code": fresh[0]})
    assert status == 200 and "Two-factor login is off" in text
    assert not site.state.accounts.security.mfa.enrolled("eddie")
    await site.browser().login("eddie")


async def test_a_role_that_must_use_two_factor_cannot_turn_it_off(site):
    security = site.state.accounts.security
    eddie = await site.browser().login("eddie")
    token = await eddie.csrf("/account")
    await eddie.post("/account/mfa/setup", {"csrf": token})
    secret = security.mfa.enrolments["eddie"].secret
    await eddie.post("/account/mfa/confirm", {"csrf": token, "code": pyotp.TOTP(secret).now()})
    security.configure(mfa_roles=["editor"])
    status, _, text = await eddie.post("/account/mfa/disable", {"csrf": token,
                                                                "code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert status == 409 and "cannot be turned off" in text and security.mfa.enrolled("eddie")


async def test_the_security_forms_refuse_a_missing_csrf_token(site):
    vera = await site.browser().login("vera")
    status, _, text = await vera.post("/account/password", {"current_password": PASSWORD,
                                                            "new_password": NEW_PASSWORD})
    assert status == 403 and "security token is missing or wrong" in text
    status, _, _ = await vera.post("/account/mfa/setup", {})
    assert status == 403 and "vera" not in site.state.accounts.security.mfa.enrolments
    ada = await site.browser().login("ada")
    status, _, _ = await ada.post("/admin/security/blocks", {"network": "198.51.100.0/24"})
    assert status == 403 and not site.state.accounts.security.addresses.listing(time.time())
    await site.browser().login("vera")  # the password did not change


async def test_only_admins_reach_the_security_page(site):
    for name in ("vera", "eddie"):
        b = await site.browser().login(name)
        status, _, text = await b.get("/admin/security")
        assert status == 403 and "This needs the admin role" in text
        status, _, _ = await b.post("/admin/users/ada/unlock", {"csrf": await b.csrf()})
        assert status == 403
    ada = await site.browser().login("ada")
    _, _, text = await ada.get("/admin")
    assert 'href="/admin/security"' in text


async def _lock_out(site, name: str) -> None:
    site.state.accounts.security.configure(max_failures=3, delay_after=5)
    for _ in range(3):
        await site.browser().post("/login", {"username": name, "password": "wrong password", "next": "/"})
    status, _, text = await site.browser().post("/login", {"username": name, "password": PASSWORD, "next": "/"})
    assert status == 429 and "locked" in text


async def test_an_admin_unlocks_a_locked_out_user(site):
    await _lock_out(site, "vera")
    ada = await site.browser().login("ada")
    _, _, text = await ada.get("/admin/security")
    assert 'data-lockout="vera"' in text
    status, _, text = await ada.post("/admin/users/vera/unlock", {"csrf": await ada.csrf("/admin/security")})
    assert status == 200 and "vera can log in again" in text and 'data-lockout="vera"' not in text
    await site.browser().login("vera")
    entries = [e for e in await audit_rows(site, target="user:vera") if e["action"] == "POST /admin/users/{name}/unlock"]
    assert [(e["actor"], e["outcome"]) for e in entries] == [("ada", "success")]


async def test_a_tenants_admin_cannot_unlock_another_tenants_user_nor_touch_blocks(site):
    accounts = site.state.accounts
    await accounts.create_user("tina", PASSWORD, "admin", tenant="acme")
    await accounts.create_user("gus", PASSWORD, "viewer", tenant="globex")
    await _lock_out(site, "gus")
    tina = await site.browser().login("tina")
    _, _, text = await tina.get("/admin/security")
    assert 'data-lockout="gus"' not in text and 'action="/admin/security/blocks"' not in text
    token = await tina.csrf("/admin/security")
    status, _, text = await tina.post("/admin/users/gus/unlock", {"csrf": token})
    assert status == 404 and "There is no user gus" in text
    status, _, _ = await tina.post("/admin/users/gus/mfa/reset", {"csrf": token})
    assert status == 404
    status, _, _ = await tina.post("/admin/security/blocks", {"csrf": token, "network": "198.51.100.0/24"})
    assert status == 403 and not accounts.security.addresses.listing(time.time())
    status, _, _ = await site.browser().post("/login", {"username": "gus", "password": PASSWORD, "next": "/"})
    assert status == 429  # still locked


async def test_an_admin_adds_and_lifts_an_address_block_with_errors_at_the_fields(site):
    addresses = site.state.accounts.security.addresses
    ada = await site.browser().login("ada")
    token = await ada.csrf("/admin/security")
    status, _, text = await ada.post("/admin/security/blocks", {"csrf": token, "network": "not-a-network",
                                                                "minutes": "10"})
    assert status == 400 and "is not an address or CIDR network" in field_error(text, "network")
    status, _, text = await ada.post("/admin/security/blocks", {"csrf": token, "network": "198.51.100.0/24",
                                                                "minutes": "ten"})
    assert status == 400 and "from 1 to 525600" in field_error(text, "minutes")
    status, _, text = await ada.post("/admin/security/blocks", {"csrf": token, "network": "127.0.0.0/8"})
    assert status == 400 and "exempt" in field_error(text, "network")
    assert not addresses.listing(time.time())
    status, _, text = await ada.post("/admin/security/blocks", {"csrf": token, "network": "198.51.100.0/24",
                                                                "minutes": "30", "reason": "scanner"})
    assert status == 200 and 'data-block="198.51.100.0/24"' in text and "scanner" in text
    assert [b["network"] for b in addresses.listing(time.time())] == ["198.51.100.0/24"]
    status, _, text = await ada.post("/admin/security/blocks/remove", {"csrf": token, "network": "198.51.100.0/24"})
    assert status == 200 and "was lifted" in text and not addresses.listing(time.time())
    status, _, text = await ada.post("/admin/security/blocks/remove", {"csrf": token, "network": "198.51.100.0/24"})
    assert status == 404 and "is not blocked" in field_error(text, "remove")
    targets = [e["target"] for e in await audit_rows(site, actor="ada")]
    assert "address:198.51.100.0/24" in targets


async def test_an_admin_resets_a_users_second_factor(site):
    mfa = site.state.accounts.security.mfa
    vera = await site.browser().login("vera")
    token = await vera.csrf("/account")
    await vera.post("/account/mfa/setup", {"csrf": token})
    await vera.post("/account/mfa/confirm", {"csrf": token, "code": pyotp.TOTP(mfa.enrolments["vera"].secret).now()})
    assert mfa.enrolled("vera")
    ada = await site.browser().login("ada")
    _, _, text = await ada.get("/admin/users")
    assert 'action="/admin/users/vera/mfa/reset"' in text
    status, _, text = await ada.post("/admin/users/vera/mfa/reset", {"csrf": await ada.csrf("/admin/users")})
    assert status == 200 and "second factor of vera was reset" in text and not mfa.enrolled("vera")
    await site.browser().login("vera")
    status, _, text = await ada.post("/admin/users/vera/mfa/reset", {"csrf": await ada.csrf("/admin/users")})
    assert status == 404 and "nothing to reset" in text


async def test_a_role_that_must_use_two_factor_sets_it_up_while_logging_in(site):
    site.state.accounts.security.configure(mfa_roles=["viewer"])
    b = site.browser()
    status, _, text = await b.post("/login", {"username": "vera", "password": PASSWORD, "next": "/documents"})
    assert status == 401 and "Add this key to your authenticator app" in text
    secret, ticket = _secret(text), re.search(r'name="ticket" value="([^"]+)"', text).group(1)
    assert f"secret={secret}" in text and 'name="setup"' in text
    status, _, text = await b.post("/login", {"ticket": ticket, "setup": "1", "code": "000000", "next": "/documents"})
    assert status == 401 and "wrong, expired or used already" in text and _secret(text) == secret  # the same key
    forged = site.browser()  # a login ticket is for its own step: a verify step cannot finish a setup
    status, _, text = await forged.post("/login", {"ticket": "not-a-ticket", "setup": "1", "code": "123456"})
    assert status == 401 and "expired" in text
    status, _, text = await b.post("/login", {"ticket": ticket, "setup": "1", "code": pyotp.TOTP(secret).now(),
                                              "next": "/documents"})
    codes = _codes(text)
    assert status == 200 and len(codes) == 10 and 'href="/documents"' in text
    status, _, _ = await b.get("/documents")
    assert status == 200  # logged in by the setup
    assert site.state.accounts.security.mfa.enrolled("vera")
    status, _ = await _login_with_code(site, "vera", PASSWORD, codes[0])  # from now on, a code at each login
    assert status == 303
