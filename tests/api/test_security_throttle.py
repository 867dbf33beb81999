"""Login throttling: delays after failures, lockouts, no user-name oracle, admin unlock, restarts."""

import asyncio

import pytest
import sqlalchemy as sa

from paperchain.api.accounts import Accounts, LoginThrottled
from paperchain.store.tables import login_failures

PASSWORD = "correct horse battery"


def _frozen(api, start: float = 2_000_000.0) -> list[float]:
    clock = [start]
    api.state.accounts.security.clock = lambda: clock[0]
    return clock


async def _login(api, name, password="wrong password 123"):
    return await api.request("POST", "/api/v1/auth/login", token=None, json={"username": name, "password": password})


async def _audit_actions(api) -> list[str]:
    await api.state.accounts.security.drain()  # security events are audited in the background
    await api.kernel.journal.flush()
    reply = await api.request("GET", "/api/v1/audit?limit=1000")
    return [entry["action"] for entry in reply.json["items"]]


async def test_delays_grow_after_three_failures_and_say_when_to_retry(api):
    await api.state.accounts.create_user("dana", PASSWORD, "viewer")
    clock = _frozen(api)
    for _ in range(3):
        assert (await _login(api, "dana")).status == 401
    waiting = await _login(api, "dana", PASSWORD)  # even the right password waits: nothing is checked
    assert waiting.status == 429 and waiting.json["error"]["code"] == "login_delayed"
    assert waiting.json["error"]["details"]["retry_after"] == 1 and waiting.headers["Retry-After"] == "1"
    clock[0] += 1.5
    assert (await _login(api, "dana")).status == 401  # the 4th failure: the next wait doubles
    clock[0] += 1.5
    assert (await _login(api, "dana")).status == 429
    clock[0] += 1
    ok = await _login(api, "dana", PASSWORD)
    assert ok.status == 200 and ok.json["access_token"]
    assert api.state.accounts.security.throttle.refusal("user:dana", clock[0]) is None  # success forgets


async def test_unknown_names_are_throttled_exactly_like_real_ones(api):
    await api.state.accounts.create_user("erin", PASSWORD, "viewer")
    _frozen(api)
    security = api.state.accounts.security
    security.configure(max_failures=4, delay_after=10)
    real = [await _login(api, "erin") for _ in range(5)]
    ghost = [await _login(api, "nobody-at-all") for _ in range(5)]
    assert [r.status for r in real] == [r.status for r in ghost] == [401, 401, 401, 401, 429]
    assert [r.json["error"]["code"] for r in real] == [r.json["error"]["code"] for r in ghost]
    assert real[-1].json["error"]["message"] == ghost[-1].json["error"]["message"]


async def test_lockout_ends_after_its_time_and_is_audited(api):
    await api.state.accounts.create_user("fay", PASSWORD, "viewer")
    clock = _frozen(api)
    api.state.accounts.security.configure(max_failures=3, delay_after=10, lockout_minutes=15)
    for _ in range(3):
        await _login(api, "fay")
    locked = await _login(api, "fay", PASSWORD)
    assert locked.status == 429 and locked.json["error"]["code"] == "login_locked"
    assert locked.json["error"]["details"]["retry_after"] == 900
    listed = await api.request("GET", "/api/v1/security/lockouts")
    assert [(r["kind"], r["name"], r["reason"]) for r in listed.json["items"]] == [("user", "fay", "locked")]
    clock[0] += 901
    assert (await _login(api, "fay", PASSWORD)).status == 200
    assert "security.account_locked" in await _audit_actions(api)


async def test_admin_unlock_through_the_api(api):
    await api.state.accounts.create_user("gus", PASSWORD, "viewer")
    _frozen(api)
    api.state.accounts.security.configure(max_failures=2, delay_after=10)
    for _ in range(2):
        await _login(api, "gus")
    assert (await _login(api, "gus", PASSWORD)).status == 429
    viewer = await api.user("vera", "viewer")
    assert (await api.request("POST", "/api/v1/users/gus/unlock", token=viewer)).status == 403
    assert (await api.request("POST", "/api/v1/users/nobody/unlock")).status == 404
    assert (await api.request("POST", "/api/v1/users/gus/unlock")).status == 204
    assert (await _login(api, "gus", PASSWORD)).status == 200
    assert "POST /api/v1/users/{name}/unlock" in await _audit_actions(api)


async def test_lockouts_survive_a_restart_and_an_unlock_from_another_process_is_seen(api):
    await api.state.accounts.create_user("hal", PASSWORD, "viewer")
    clock = _frozen(api)
    api.state.accounts.security.configure(max_failures=2, delay_after=10)
    for _ in range(2):
        await _login(api, "hal")
    await api.kernel.journal.flush()
    restarted = Accounts(api.kernel)  # what the next start loads from the database
    restarted.security.clock = lambda: clock[0]
    await restarted.load()
    refusal = restarted.security.throttle.refusal("user:hal", clock[0])
    assert refusal is not None and refusal.reason == "locked"
    await restarted.security.throttle.unlock("user:hal")  # as `paperchain users unlock hal` does
    assert (await _login(api, "hal", PASSWORD)).status == 200  # the running server checks the database


async def test_failures_counted_by_two_servers_at_once_add_up_in_the_database(api):
    """Two API processes on one database (two Accounts here, each with counters of its own in memory):
    each failure increments the stored counter, so guesses spread over both lock the account all the same."""
    clock = _frozen(api)
    other = Accounts(api.kernel)
    other.security.clock = lambda: clock[0]
    await other.load()
    servers = (api.state.accounts.security, other.security)
    for security in servers:
        security.configure(max_failures=4, delay_after=10, lockout_minutes=15)
    locks = await asyncio.gather(*(security.throttle.failed("user:ivy", clock[0]) for security in servers * 2))
    assert locks.count(True) == 1  # the fourth failure, whichever server counted it
    row = await api.kernel.sql.first(sa.select(login_failures).where(login_failures.c.key == "user:ivy"))
    assert (row.failures, row.locked_until) == (0, clock[0] + 900)
    assert not await other.security.throttle.failed("user:ivy", clock[0])  # already locked: no new lockout
    for accounts in (api.state.accounts, other):  # a login through either server reads the lockout first
        with pytest.raises(LoginThrottled, match="locked until"):
            await accounts.login("ivy", "wrong password 123")


async def test_migration_creates_the_security_tables(api):
    async with api.kernel.database.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    assert {"login_failures", "ip_blocks", "user_mfa"} <= tables
