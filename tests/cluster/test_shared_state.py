"""Accounts, address blocks and rate limits hold across servers on one database."""

from __future__ import annotations

import pytest
from cluster.cluster_support import eventually

pytestmark = pytest.mark.postgres


async def _status(server, path, **headers) -> int:
    return (await server.request("GET", path, token=None, headers=headers)).status


def answers(status: int, call):
    """A check for ``eventually``: whether the request ``call()`` makes answers ``status``."""
    async def check() -> bool:
        return await call() == status

    return check


async def test_a_key_made_on_one_server_works_on_the_other_until_revoked_there(servers):
    a, b = await servers("a"), await servers("b")
    made = await a.request("POST", "/api/v1/keys", json={"name": "robot"})
    assert made.status == 201, made
    key, key_id = made.json["key"], made.json["id"]
    await eventually(answers(200, lambda: _status(b, "/api/v1/auth/me", **{"X-API-Key": key})), timeout=2)
    assert await _status(b, "/api/v1/auth/me", **{"X-API-Key": key}) == 200  # remembered as a grant now

    assert (await a.request("DELETE", f"/api/v1/keys/{key_id}")).status == 200
    await eventually(answers(401, lambda: _status(b, "/api/v1/auth/me", **{"X-API-Key": key})), timeout=2)
    reply = await b.request("GET", "/api/v1/auth/me", token=None, headers={"X-API-Key": key})
    assert reply.status == 401 and "revoked" in reply.json["error"]["message"]


async def test_a_token_from_one_server_is_good_on_the_other_until_its_user_is_disabled(servers):
    a, b = await servers("a"), await servers("b")
    token = await a.user("rita", "editor")
    await eventually(answers(200, lambda: _bearer_status(b, token)), timeout=2)
    assert (await b.request("GET", "/api/v1/auth/me", token=token)).json["name"] == "rita"
    assert (await a.request("PATCH", "/api/v1/users/rita", json={"disabled": True})).status == 200
    await eventually(answers(401, lambda: _bearer_status(b, token)), timeout=2)


async def _bearer_status(server, token) -> int:
    return (await server.request("GET", "/api/v1/auth/me", token=token)).status


async def test_a_rate_limit_counts_requests_on_both_servers(servers):
    limits = {"rate": 0.01, "burst": 6}  # six requests, then (almost) nothing for the test's length
    a, b = await servers("a", api=limits), await servers("b", api=limits)
    token = await a.user("rita", "viewer")
    await eventually(lambda: b.state.accounts.users.get("rita"), timeout=2)
    assert [await _bearer_status(a, token) for _ in range(4)] == [200] * 4
    await eventually(lambda: b.state.key_buckets._full_at.get(("user", "rita")), timeout=2)  # a's count arrived
    assert [await _bearer_status(b, token) for _ in range(3)] == [200, 200, 429]
    await eventually(answers(429, lambda: _bearer_status(a, token)), timeout=2)  # and b's count reached a


async def test_a_block_made_on_one_server_refuses_the_address_on_the_other(servers):
    a, b = await servers("a"), await servers("b")
    for server in (a, b):  # loopback is exempt by default: exempt nothing here
        server.state.accounts.security.configure(exempt=())
    token = a.token
    made = await a.request("POST", "/api/v1/security/blocks", token=token,
                           json={"network": "127.0.0.1", "minutes": 5, "reason": "test"})
    assert made.status == 201, made
    await eventually(answers(403, lambda: _status(b, "/api/v1/auth/me")), timeout=2)


async def test_a_logout_on_one_server_ends_the_web_session_on_the_other(servers):
    from paperchain.web.guard import WEB

    a, b = await servers("a"), await servers("b")
    secret, session = await a.app[WEB].sessions.create("admin")
    assert (await b.app[WEB].sessions.find(secret)).id == session.id  # read from the database, then kept
    await a.app[WEB].sessions.revoke(session)

    async def ended() -> bool:
        return await b.app[WEB].sessions.find(secret) is None

    await eventually(ended, timeout=2)


async def test_refused_credentials_are_counted_on_every_server(servers):
    a, b = await servers("a"), await servers("b")
    for server in (a, b):
        server.state.accounts.security.configure(exempt=(), ip_max_unauthorized=4)
    bad = {"X-API-Key": "pck_nothing_wrong"}
    assert [await _status(a, "/api/v1/auth/me", **bad) for _ in range(2)] == [401, 401]
    await eventually(lambda: b.state.accounts.security.addresses._unauthorized.get("127.0.0.1", [0, 0])[1] == 2,
                     timeout=2)
    assert [await _status(b, "/api/v1/auth/me", **bad) for _ in range(2)] == [401, 401]  # the 4th blocks
    assert await _status(b, "/api/v1/auth/me") == 403
    await eventually(answers(403, lambda: _status(a, "/api/v1/auth/me")), timeout=2)
