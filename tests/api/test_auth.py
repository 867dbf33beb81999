"""Authentication, roles, keys, tokens: each refused request gets the right 4xx and changes nothing."""

import asyncio
import time

import jwt
import sqlalchemy as sa

from paperchain.store import tables


async def _count(api, table):
    await api.kernel.journal.flush()
    return await api.kernel.sql.scalar(sa.select(sa.func.count()).select_from(tables.METADATA.tables[table]))


async def test_public_routes_and_unauthenticated(api):
    assert (await api.request("GET", "/health", token=None)).json == {"status": "ok"}
    ready = await api.request("GET", "/ready", token=None)
    assert ready.status == 200 and ready.json["database"] is True
    assert (await api.request("GET", "/api/v1/openapi.json", token=None)).status == 200
    docs = await api.request("GET", "/docs", token=None)
    assert docs.status == 200 and b"swagger-ui" in docs.body
    asset = await api.request("GET", "/docs/swagger/swagger-ui-bundle.js", token=None)
    assert asset.status == 200 and len(asset.body) > 100_000  # served locally: no internet needed
    reply = await api.request("GET", "/api/v1/documents", token=None)
    assert reply.status == 401
    assert reply.json["error"]["code"] == "unauthorized" and "Authorization" in reply.json["error"]["message"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert (await api.request("GET", "/metrics", token=None)).status == 401


async def test_login_refresh_and_logout(api):
    await api.state.accounts.create_user("eve", "correct horse battery", "editor")
    bad = await api.request("POST", "/api/v1/auth/login", token=None, json={"username": "eve", "password": "wrong password"})
    assert bad.status == 401
    unknown = await api.request("POST", "/api/v1/auth/login", token=None, json={"username": "nobody", "password": "x" * 12})
    assert unknown.status == 401 and unknown.json["error"]["message"] == bad.json["error"]["message"]
    ok = await api.request("POST", "/api/v1/auth/login", token=None,
                           json={"username": "eve", "password": "correct horse battery"})
    assert ok.status == 200 and ok.json["token_type"] == "Bearer"
    me = await api.request("GET", "/api/v1/auth/me", token=ok.json["access_token"])
    assert me.json["name"] == "eve" and me.json["role"] == "editor"
    again = await api.request("POST", "/api/v1/auth/refresh", token=None, json={"refresh_token": ok.json["refresh_token"]})
    assert again.status == 200
    reused = await api.request("POST", "/api/v1/auth/refresh", token=None, json={"refresh_token": ok.json["refresh_token"]})
    assert reused.status == 401  # rotated: the old refresh token is spent
    await api.request("POST", "/api/v1/auth/logout", token=again.json["access_token"],
                      json={"refresh_token": again.json["refresh_token"]})
    after = await api.request("POST", "/api/v1/auth/refresh", token=None, json={"refresh_token": again.json["refresh_token"]})
    assert after.status == 401


async def test_a_refresh_token_used_twice_at_once_gives_tokens_once(api):
    await api.state.accounts.create_user("eli", "correct horse battery", "editor")
    ok = await api.request("POST", "/api/v1/auth/login", token=None,
                           json={"username": "eli", "password": "correct horse battery"})
    body = {"refresh_token": ok.json["refresh_token"]}
    replies = await asyncio.gather(*(api.request("POST", "/api/v1/auth/refresh", token=None, json=body) for _ in range(4)))
    assert sorted(reply.status for reply in replies) == [200, 401, 401, 401]


async def test_expired_forged_and_malformed_tokens(api):
    secret = api.state.accounts.secret
    expired = jwt.encode({"sub": "admin", "typ": "access", "exp": int(time.time()) - 5}, secret, algorithm="HS256")
    reply = await api.request("GET", "/api/v1/documents", token=expired)
    assert reply.status == 401 and "expired" in reply.json["error"]["message"]
    forged = jwt.encode({"sub": "admin", "typ": "access", "exp": int(time.time()) + 60}, b"not the key, but just as long as one", algorithm="HS256")
    assert (await api.request("GET", "/api/v1/documents", token=forged)).status == 401
    basic = await api.request("GET", "/api/v1/documents", token=None, headers={"Authorization": "Basic YWRtaW46eA=="})
    assert basic.status == 401


async def test_roles_are_enforced_and_refusals_change_nothing(api):
    viewer = await api.user("vic", "viewer")
    editor = await api.user("ed", "editor")
    await api.request("PUT", "/api/v1/workflows/w", json={"name": "w", "steps": [{"id": "a", "uses": "test.wait"}]})
    runs_before = await _count(api, "runs")
    refused = await api.request("POST", "/api/v1/runs", token=viewer, json={"workflow": "w"})
    assert refused.status == 403 and "editor" in refused.json["error"]["message"]
    assert await _count(api, "runs") == runs_before
    assert (await api.request("POST", "/api/v1/users", token=editor,
                              json={"name": "x", "password": "long enough pw"})).status == 403
    assert (await api.request("GET", "/api/v1/audit", token=editor)).status == 403
    assert (await api.request("POST", "/api/v1/runs", token=editor, json={"workflow": "w"})).status == 202
    # plugin routes get the same treatment
    assert (await api.request("GET", "/api/v1/test/whoami", token=viewer)).json["name"] == "vic"
    assert (await api.request("POST", "/api/v1/test/admin-only", token=editor)).status == 403
    assert (await api.request("POST", "/api/v1/test/admin-only")).status == 200


async def test_api_keys_scopes_revocation_and_last_used(api):
    made = await api.request("POST", "/api/v1/keys", json={"name": "ci", "role": "viewer", "scopes": ["documents:read"]})
    assert made.status == 201
    key, key_id = made.json["key"], made.json["id"]
    listed = await api.request("GET", "/api/v1/keys")
    assert all("key" not in k and "secret_hash" not in k for k in listed.json["items"])  # shown once only
    stored = await api.kernel.sql.scalar(sa.select(tables.api_keys.c.secret_hash).where(tables.api_keys.c.id == key_id))
    assert key.split("_", 2)[2] not in stored  # only a hash is kept
    by_header = await api.request("GET", "/api/v1/documents", token=None, headers={"X-API-Key": key})
    assert by_header.status == 200
    assert (await api.request("GET", "/api/v1/documents", token=key)).status == 200  # Bearer works too
    out_of_scope = await api.request("GET", "/api/v1/runs", token=key)
    assert out_of_scope.status == 403 and "scopes" in out_of_scope.json["error"]["message"]
    assert (await api.request("POST", "/api/v1/documents", token=key, data=b"x")).status == 403  # viewer key
    keys = (await api.request("GET", "/api/v1/keys")).json["items"]
    assert next(k for k in keys if k["id"] == key_id)["last_used"]
    assert (await api.request("DELETE", f"/api/v1/keys/{key_id}")).status == 200
    revoked = await api.request("GET", "/api/v1/documents", token=key)
    assert revoked.status == 401 and "revoked" in revoked.json["error"]["message"]
    assert (await api.request("GET", "/api/v1/documents", token="pck_nope_nope")).status == 401


async def test_a_key_cannot_outrank_its_owner(api):
    editor = await api.user("ed2", "editor")
    reply = await api.request("POST", "/api/v1/keys", token=editor, json={"role": "admin"})
    assert reply.status == 403


async def test_rate_limit_answers_429_with_retry_after(paperchain_api):
    from api_support import TestPlugin

    api = await paperchain_api(TestPlugin(), api={"rate": 1.0, "burst": 3})
    statuses = [(await api.request("GET", "/api/v1/documents")).status for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    limited = await api.request("GET", "/api/v1/documents")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1


async def test_audit_records_changes_and_cannot_be_changed(api):
    await api.request("PUT", "/api/v1/workflows/aud", json={"name": "aud", "steps": [{"id": "a", "uses": "test.wait"}]})
    viewer = await api.user("peek", "viewer")
    await api.request("DELETE", "/api/v1/workflows/aud", token=viewer)  # refused: recorded as denied
    entries = (await api.request("GET", "/api/v1/audit")).json["items"]
    saved = [e for e in entries if e["action"] == "PUT /api/v1/workflows/{name}"]
    assert saved and saved[0]["actor"] == "admin" and saved[0]["outcome"] == "success" and saved[0]["ip"] == "127.0.0.1"
    denied = [e for e in entries if e["actor"] == "peek" and e["action"].startswith("DELETE")]
    assert denied and denied[0]["outcome"] == "denied" and denied[0]["status"] == 403
    assert (await api.request("DELETE", "/api/v1/audit")).status == 405
    assert (await api.request("PUT", "/api/v1/audit", json={})).status == 405


async def test_tenants_do_not_see_each_other(api):
    a = await api.user("alice", "editor", tenant="acme")
    b = await api.user("bob", "editor", tenant="globex")
    uploaded = await api.request("POST", "/api/v1/documents?name=a.txt", token=a, data=b"acme secret plans")
    doc = uploaded.json["id"]
    assert (await api.request("GET", f"/api/v1/documents/{doc}", token=b)).status == 404
    assert (await api.request("GET", "/api/v1/documents", token=b)).json["items"] == []
    assert (await api.request("GET", f"/api/v1/documents/{doc}", token=a)).status == 200
    assert (await api.request("GET", f"/api/v1/documents/{doc}")).status == 200  # an admin with no tenant sees all


async def test_demotion_and_disabling_apply_to_the_next_request(api):
    """Verified credentials are remembered (grants); any account change must still apply at once."""
    token = await api.user("dora", "editor")
    made = await api.request("POST", "/api/v1/keys", token=token, json={"name": "dora-key"})
    key = made.json["key"]
    for credential in (token, key):  # remembered after this request
        assert (await api.request("POST", "/api/v1/documents?name=a.txt", token=credential, data=b"x")).status == 201
    assert (await api.request("PATCH", "/api/v1/users/dora", json={"role": "viewer"})).status == 200
    for credential in (token, key):
        refused = await api.request("POST", "/api/v1/documents?name=b.txt", token=credential, data=b"y")
        assert refused.status == 403 and "editor" in refused.json["error"]["message"]
    assert (await api.request("PATCH", "/api/v1/users/dora", json={"disabled": True})).status == 200
    for credential in (token, key):
        assert (await api.request("GET", "/api/v1/documents", token=credential)).status == 401


async def test_a_remembered_token_still_expires(api):
    accounts = api.state.accounts
    soon = jwt.encode({"sub": "admin", "typ": "access", "exp": int(time.time()) + 2}, accounts.secret, algorithm="HS256")
    assert (await api.request("GET", "/api/v1/documents", token=soon)).status == 200
    grant = accounts.bearer_grants[f"Bearer {soon}"]
    assert grant.until <= time.monotonic() + 2  # remembered no longer than the token lives


async def test_twelve_wrong_passwords_then_the_right_one_is_refused(api):
    await api.state.accounts.create_user("mallory-target", "correct horse battery", "editor")
    clock = [1_000_000.0]
    security = getattr(api.state.accounts, "security", None)
    if security is not None:  # a clock the test moves: past each delay, well within the 15-minute window
        security.clock = lambda: clock[0]
    statuses = []
    for _ in range(12):
        wrong = await api.request("POST", "/api/v1/auth/login", token=None,
                                  json={"username": "mallory-target", "password": "wrong password 123"})
        statuses.append(wrong.status)
        clock[0] += 61
    right = await api.request("POST", "/api/v1/auth/login", token=None,
                              json={"username": "mallory-target", "password": "correct horse battery"})
    assert right.status == 429 and "access_token" not in (right.json or {})
    assert right.json["error"]["code"] == "login_locked"
    assert "locked until" in right.json["error"]["message"] and int(right.headers["Retry-After"]) > 0
    assert statuses == [401] * 10 + [429, 429]  # the 10th failure locked the account
