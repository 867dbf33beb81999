"""Address allow and deny lists, automatic and manual blocks, and loopback's exemption."""

import asyncio

import pytest

from paperchain.api.accounts import Accounts
from paperchain.api.security.ipblock import AddressGuard
from paperchain.config import SecuritySettings, load_config
from paperchain_sdk import ConfigError


async def _audit_actions(api) -> list[str]:
    await api.state.accounts.security.drain()  # security events are audited in the background
    await api.kernel.journal.flush()
    return [e["action"] for e in (await api.request("GET", "/api/v1/audit?limit=1000")).json["items"]]


async def test_deny_and_allow_lists_refuse_with_403_in_the_api_shape(api):
    security = api.state.accounts.security
    security.configure(deny=["127.0.0.0/8"])
    denied = await api.request("GET", "/api/v1/documents")
    assert denied.status == 403 and denied.json["error"]["code"] == "address_blocked"
    assert "deny list" in denied.json["error"]["message"] and denied.headers["X-Content-Type-Options"] == "nosniff"
    assert (await api.request("GET", "/health", token=None)).status == 403
    security.configure(deny=[], allow=["10.0.0.0/8", "2001:db8::/32"])
    outside = await api.request("GET", "/api/v1/documents")
    assert outside.status == 403 and "allow list" in outside.json["error"]["message"]
    security.configure(allow=["127.0.0.1"])
    assert (await api.request("GET", "/api/v1/documents")).status == 200


def test_lists_match_ipv4_ipv6_and_mapped_addresses():
    guard = AddressGuard(kernel=None, settings=SecuritySettings(deny=["192.0.2.0/24", "2001:db8::/32"], exempt=[]))
    assert guard.refusal("192.0.2.77", 0.0) and guard.refusal("2001:db8::5", 0.0)
    assert guard.refusal("::ffff:192.0.2.9", 0.0)  # an IPv4 peer seen through an IPv6 socket
    assert guard.refusal("198.51.100.1", 0.0) is None and guard.refusal("2001:db9::1", 0.0) is None
    assert guard.refusal(None, 0.0) is None  # a Unix socket peer has no address to list


def test_a_bad_network_in_plugins_toml_is_a_clear_error(tmp_path):
    (tmp_path / "plugins.toml").write_text('[security]\ndeny = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "plugins.toml", env={})
    assert "[security]" in caught.value.message and "'10.0.0.0/33' is not an address or CIDR" in caught.value.message


async def test_repeated_401s_block_the_address_until_lifted(api):
    security = api.state.accounts.security
    security.configure(exempt=[], ip_max_unauthorized=5)
    for _ in range(5):
        assert (await api.request("GET", "/api/v1/documents", token="not-a-token")).status == 401
    blocked = await api.request("GET", "/api/v1/documents")  # even with a good token now
    assert blocked.status == 403 and blocked.json["error"]["code"] == "address_blocked"
    assert int(blocked.headers["Retry-After"]) > 0 and "refused credentials" in blocked.json["error"]["message"]
    [listed] = security.addresses.listing(security.clock())
    assert listed["network"] == "127.0.0.1/32" and listed["automatic"]
    assert await security.addresses.remove("127.0.0.1")  # what `paperchain security unblock` does
    assert (await api.request("GET", "/api/v1/documents")).status == 200
    assert "security.address_blocked" in await _audit_actions(api)


async def test_failed_logins_from_one_address_block_it(api):
    security = api.state.accounts.security
    security.configure(exempt=[], ip_max_failures=4, ip_delay_after=10, delay_after=10)
    for n in range(4):  # a different name each time: the account limits never apply
        reply = await api.request("POST", "/api/v1/auth/login", token=None,
                                  json={"username": f"guess{n}", "password": "wrong password 123"})
        assert reply.status == 401
    assert (await api.request("GET", "/health", token=None)).status == 403
    assert security.addresses.listing(security.clock())[0]["reason"].startswith("4 failed logins")


async def test_loopback_is_exempt_by_default_so_the_local_admin_keeps_a_way_in(api):
    security = api.state.accounts.security
    security.configure(ip_max_unauthorized=3, ip_max_failures=3, ip_delay_after=1)
    for _ in range(6):
        assert (await api.request("GET", "/api/v1/documents", token="bad")).status == 401
        await api.request("POST", "/api/v1/auth/login", token=None, json={"username": "x", "password": "nope"})
    assert (await api.request("GET", "/api/v1/documents")).status == 200
    refused = await api.request("POST", "/api/v1/security/blocks", json={"network": "127.0.0.0/16"})
    assert refused.status == 400 and "exempt" in refused.json["error"]["message"]


async def test_admins_block_list_and_lift_networks(api):
    viewer = await api.user("val", "viewer")
    assert (await api.request("GET", "/api/v1/security/blocks", token=viewer)).status == 403
    bad = await api.request("POST", "/api/v1/security/blocks", json={"network": "300.1.2.3"})
    assert bad.status == 400 and "CIDR" in bad.json["error"]["message"] and bad.json["error"]["details"]["hint"]
    made = await api.request("POST", "/api/v1/security/blocks",
                             json={"network": "198.51.100.0/24", "minutes": 30, "reason": "scanner"})
    assert made.status == 201 and made.json["network"] == "198.51.100.0/24" and made.json["created_by"] == "admin"
    v6 = await api.request("POST", "/api/v1/security/blocks", json={"network": "2001:db8::/48"})
    assert v6.status == 201 and v6.json["expires"] is None
    listed = await api.request("GET", "/api/v1/security/blocks")
    assert [b["network"] for b in listed.json["items"]] == ["198.51.100.0/24", "2001:db8::/48"]
    assert api.state.accounts.security.addresses.refusal("198.51.100.9", api.state.accounts.security.clock())
    lifted = await api.request("DELETE", "/api/v1/security/blocks/198.51.100.0%2F24")
    assert lifted.status == 200 and lifted.json["reason"] == "scanner"
    assert (await api.request("DELETE", "/api/v1/security/blocks/2001:db8::/48")).status == 200
    assert (await api.request("DELETE", "/api/v1/security/blocks/198.51.100.0/24")).status == 404
    assert (await api.request("GET", "/api/v1/security/blocks")).json["items"] == []
    actions = await _audit_actions(api)
    assert "POST /api/v1/security/blocks" in actions and "DELETE /api/v1/security/blocks/{network:.+}" in actions


async def test_a_block_made_by_another_process_reaches_the_running_server(api):
    security = api.state.accounts.security
    security.configure(exempt=[])
    other = Accounts(api.kernel)  # the command line works on the same database
    await other.load()
    other.security.configure(exempt=[])
    other.security.addresses.add("127.0.0.1", minutes=5, reason="from the CLI", by="cli:test", now=security.clock())
    await api.kernel.journal.flush()
    security.addresses._reload_at = 0  # the next request starts the periodic re-read
    await api.request("GET", "/health", token=None)
    await asyncio.wait_for(security.addresses._task, 5)
    assert (await api.request("GET", "/health", token=None)).status == 403


async def test_a_lifted_block_stays_lifted_when_a_re_read_runs_meanwhile(api):
    guard = api.state.accounts.security.addresses
    now = api.state.accounts.security.clock()
    guard.add("198.51.100.0/24", minutes=30, reason="scanner", by="admin", now=now)
    await api.kernel.journal.flush()
    # The periodic re-read starts first and reads the row while the lift is under way.
    rereads = [asyncio.ensure_future(guard._reload(now)) for _ in range(3)]
    lifted = asyncio.ensure_future(guard.remove("198.51.100.0/24"))
    await asyncio.gather(lifted, *rereads)
    assert lifted.result() is not None and guard.listing(now) == []
    assert guard.refusal("198.51.100.9", now) is None
