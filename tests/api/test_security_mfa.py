"""Second factors: TOTP enrolment, the login flow, replays, recovery codes, per-role requirement, resets."""

import asyncio
import json

import pyotp
import sqlalchemy as sa

from paperchain.store import tables

PASSWORD = "correct horse battery"


def _frozen(api, start: float = 1_800_000_000.0) -> list[float]:
    clock = [start]
    api.state.accounts.security.clock = lambda: clock[0]
    return clock


def _code(secret: str, at: float) -> str:
    return pyotp.TOTP(secret).at(at)


async def _login(api, name, password=PASSWORD):
    return await api.request("POST", "/api/v1/auth/login", token=None, json={"username": name, "password": password})


async def _enrolled(api, name: str, clock) -> tuple[str, list[str]]:
    """Make ``name`` (an editor) with TOTP on: their secret and recovery codes."""
    token = await api.user(name, "editor", password=PASSWORD)
    setup = await api.request("POST", "/api/v1/auth/mfa/setup", token=token, json={})
    assert setup.status == 200, setup
    secret = setup.json["secret"]
    confirmed = await api.request("POST", "/api/v1/auth/mfa/confirm", token=token,
                                  json={"code": _code(secret, clock[0])})
    assert confirmed.status == 200, confirmed
    clock[0] += 30  # the confirming code's step is spent
    return secret, confirmed.json["recovery_codes"]


async def test_enrolment_gives_a_uri_and_needs_a_right_first_code(api):
    clock = _frozen(api)
    token = await api.user("jo", "editor", password=PASSWORD)
    setup = await api.request("POST", "/api/v1/auth/mfa/setup", token=token, json={})
    assert setup.status == 200 and setup.json["otpauth_uri"].startswith("otpauth://totp/Paperchain:jo?secret=")
    assert setup.json["digits"] == 6 and setup.json["period"] == 30
    wrong = await api.request("POST", "/api/v1/auth/mfa/confirm", token=token, json={"code": "000000"})
    assert wrong.status == 401 and "code is wrong" in wrong.json["error"]["message"]
    status = await api.request("GET", "/api/v1/auth/mfa", token=token)
    assert status.json == {"enrolled": False, "required": False, "pending": True, "recovery_codes_left": 0}
    ok = await api.request("POST", "/api/v1/auth/mfa/confirm", token=token,
                           json={"code": _code(setup.json["secret"], clock[0])})
    assert ok.status == 200 and len(ok.json["recovery_codes"]) == 10 and len(set(ok.json["recovery_codes"])) == 10
    assert (await api.request("GET", "/api/v1/auth/mfa", token=token)).json["recovery_codes_left"] == 10
    again = await api.request("POST", "/api/v1/auth/mfa/setup", token=token, json={})
    assert again.status == 409


async def test_login_asks_for_the_second_factor_and_refuses_a_replayed_code(api):
    clock = _frozen(api)
    secret, _ = await _enrolled(api, "kim", clock)
    first = await _login(api, "kim")
    assert first.status == 401 and first.json["error"]["code"] == "mfa_required"
    details = first.json["error"]["details"]
    assert details["mfa_ticket"] and details["expires_in"] == 300 and "recovery_code" in details["methods"]
    assert "access_token" not in first.json
    code = _code(secret, clock[0])
    done = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": details["mfa_ticket"], "code": code})
    assert done.status == 200 and done.json["access_token"]
    assert (await api.request("GET", "/api/v1/auth/me", token=done.json["access_token"])).json["name"] == "kim"
    replay = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": details["mfa_ticket"], "code": code})
    assert replay.status == 401 and "used already" in replay.json["error"]["message"]
    clock[0] += 30
    later = await api.request("POST", "/api/v1/auth/mfa", token=None,
                              json={"ticket": details["mfa_ticket"], "code": _code(secret, clock[0])})
    assert later.status == 200
    forged = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": "not-a-ticket", "code": "123456"})
    assert forged.status == 401 and "ticket" in forged.json["error"]["message"]


async def test_recovery_codes_work_once_and_are_stored_hashed(api):
    clock = _frozen(api)
    _, codes = await _enrolled(api, "lee", clock)
    await api.kernel.journal.flush()
    stored = await api.kernel.sql.scalar(sa.select(tables.user_mfa.c.recovery).where(tables.user_mfa.c.user == "lee"))
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    assert all(digest.startswith("$argon2") for _, digest in json.loads(stored))
    ticket = (await _login(api, "lee")).json["error"]["details"]["mfa_ticket"]
    used = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": ticket, "code": codes[3].upper()})
    assert used.status == 200 and used.json["recovery_codes_left"] == 9
    twice = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": ticket, "code": codes[3]})
    assert twice.status == 401


async def test_wrong_codes_count_towards_the_lockout(api):
    clock = _frozen(api)
    secret, _ = await _enrolled(api, "max", clock)
    api.state.accounts.security.configure(max_failures=3, delay_after=10)
    ticket = (await _login(api, "max")).json["error"]["details"]["mfa_ticket"]
    for _ in range(3):
        assert (await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": ticket, "code": "999999"})).status == 401
    locked = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": ticket, "code": _code(secret, clock[0])})
    assert locked.status == 429 and locked.json["error"]["code"] == "login_locked"


async def test_a_role_that_requires_mfa_sets_it_up_during_login(api):
    clock = _frozen(api)
    await api.user("ned", "editor", password=PASSWORD)
    refresh = (await _login(api, "ned")).json["refresh_token"]
    api.state.accounts.security.configure(mfa_roles=["editor"])
    no_refresh = await api.request("POST", "/api/v1/auth/refresh", token=None, json={"refresh_token": refresh})
    assert no_refresh.status == 401 and "second factor" in no_refresh.json["error"]["message"]
    first = await _login(api, "ned")
    assert first.status == 401 and first.json["error"]["code"] == "mfa_setup_required"
    ticket = first.json["error"]["details"]["mfa_ticket"]
    wrong_kind = await api.request("POST", "/api/v1/auth/mfa", token=None, json={"ticket": ticket, "code": "123456"})
    assert wrong_kind.status == 401  # a setup ticket is not a login ticket
    setup = await api.request("POST", "/api/v1/auth/mfa/setup", token=None, json={"ticket": ticket})
    assert setup.status == 200
    done = await api.request("POST", "/api/v1/auth/mfa/confirm", token=None,
                             json={"ticket": ticket, "code": _code(setup.json["secret"], clock[0])})
    assert done.status == 200 and done.json["access_token"] and len(done.json["recovery_codes"]) == 10
    token = done.json["access_token"]
    keep = await api.request("DELETE", "/api/v1/auth/mfa", token=token, json={"code": "123456"})
    assert keep.status == 409 and "must use a second factor" in keep.json["error"]["message"]
    assert (await _login(api, "ned")).json["error"]["code"] == "mfa_required"


async def test_admins_reset_a_lost_second_factor_and_users_turn_theirs_off(api):
    clock = _frozen(api)
    secret, _ = await _enrolled(api, "oz", clock)
    editor = await api.user("pat", "editor")
    assert (await api.request("DELETE", "/api/v1/users/oz/mfa", token=editor)).status == 403
    assert (await api.request("DELETE", "/api/v1/users/oz/mfa")).status == 204
    assert (await api.request("DELETE", "/api/v1/users/oz/mfa")).status == 404
    token = (await _login(api, "oz")).json["access_token"]  # no second factor any more
    assert token
    await api.kernel.journal.flush()
    actions = [e["action"] for e in (await api.request("GET", "/api/v1/audit?limit=1000")).json["items"]]
    assert "DELETE /api/v1/users/{name}/mfa" in actions

    secret2 = (await api.request("POST", "/api/v1/auth/mfa/setup", token=token, json={})).json["secret"]
    await api.request("POST", "/api/v1/auth/mfa/confirm", token=token, json={"code": _code(secret2, clock[0])})
    clock[0] += 30
    assert (await api.request("DELETE", "/api/v1/auth/mfa", token=token, json={"code": "000000"})).status == 403
    assert (await api.request("DELETE", "/api/v1/auth/mfa", token=token,
                              json={"code": _code(secret2, clock[0])})).status == 204
    assert (await _login(api, "oz")).status == 200


async def test_one_code_given_to_two_servers_at_once_is_accepted_once(api):
    """Two API processes on one database (two Accounts here): the step a code belongs to is taken by
    a conditional update, so a code replayed through the other server at the same moment fails."""
    from paperchain.api.accounts import Accounts

    clock = _frozen(api)
    secret, _ = await _enrolled(api, "ned", clock)
    other = Accounts(api.kernel)
    await other.load()
    servers = (api.state.accounts.security.mfa, other.security.mfa)
    code = _code(secret, clock[0])
    answers = await asyncio.gather(*(mfa.check("ned", code, clock[0]) for mfa in servers))
    assert sorted(answers, key=str) == [None, "totp"]
    stored = await api.kernel.sql.scalar(sa.select(tables.user_mfa.c.last_step).where(tables.user_mfa.c.user == "ned"))
    assert stored == int(clock[0] // 30)
