"""A tenant's admin manages only its own tenant's users, keys and audit entries (issue 13).

Another tenant's user or key answers 404 exactly as one that does not exist (no oracle); the
deployment's operator (an admin with no tenant) keeps seeing and managing everything.
"""

from __future__ import annotations

import time

import pytest


def _names(reply) -> set[str]:
    return {item["name"] for item in reply.json["items"]}


@pytest.fixture
async def tenants(api):
    """acme's admin and user (with a key), globex's admin and user (with a key)."""
    tokens = {
        "acme-admin": await api.user("acme-admin", "admin", tenant="acme"),
        "acme-user": await api.user("acme-user", "editor", tenant="acme"),
        "globex-admin": await api.user("globex-admin", "admin", tenant="globex"),
        "globex-user": await api.user("globex-user", "editor", tenant="globex"),
    }
    keys = {}
    for owner in ("acme-user", "globex-user"):
        made = await api.request("POST", "/api/v1/keys", token=tokens[owner], json={"name": f"{owner}-key"})
        assert made.status == 201, made
        keys[owner] = made.json["id"]
    return tokens, keys


async def test_a_tenant_admin_lists_only_its_tenants_users_and_keys(api, tenants):
    tokens, keys = tenants
    users = await api.request("GET", "/api/v1/users", token=tokens["globex-admin"])
    assert users.status == 200 and _names(users) == {"globex-admin", "globex-user"}
    listed = await api.request("GET", "/api/v1/keys", token=tokens["globex-admin"])
    assert {k["id"] for k in listed.json["items"]} == {keys["globex-user"]}
    operator_users = _names(await api.request("GET", "/api/v1/users"))
    assert {"acme-admin", "acme-user", "globex-admin", "globex-user", "admin"} <= operator_users
    operator_keys = {k["id"] for k in (await api.request("GET", "/api/v1/keys")).json["items"]}
    assert set(keys.values()) <= operator_keys


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PATCH", "/api/v1/users/{name}", {"role": "viewer"}),
    ("PATCH", "/api/v1/users/{name}", {"disabled": True}),
    ("POST", "/api/v1/users/{name}/unlock", None),
    ("DELETE", "/api/v1/users/{name}/mfa", None),
])
async def test_another_tenants_user_is_absent_to_a_tenant_admin(api, tenants, method, path, body):
    tokens, _ = tenants
    real = await api.request(method, path.format(name="acme-user"), token=tokens["globex-admin"], json=body)
    fake = await api.request(method, path.format(name="nobody-here"), token=tokens["globex-admin"], json=body)
    assert real.status == fake.status == 404, (real, fake)
    assert real.json["error"]["message"].replace("acme-user", "?") == fake.json["error"]["message"].replace("nobody-here", "?")
    user = api.state.accounts.users["acme-user"]
    assert user["role"] == "editor" and not user["disabled"]  # unchanged
    own = await api.request("PATCH", "/api/v1/users/globex-user", token=tokens["globex-admin"], json={"role": "viewer"})
    assert own.status == 200 and own.json["role"] == "viewer"
    theirs = await api.request("PATCH", "/api/v1/users/acme-user", json={"role": "viewer"})  # the operator may
    assert theirs.status == 200


async def test_a_tenant_admin_cannot_revoke_another_tenants_key(api, tenants):
    tokens, keys = tenants
    real = await api.request("DELETE", f"/api/v1/keys/{keys['acme-user']}", token=tokens["globex-admin"])
    fake = await api.request("DELETE", "/api/v1/keys/0123456789ab", token=tokens["globex-admin"])
    assert real.status == fake.status == 404
    assert api.state.accounts.keys[keys["acme-user"]].revoked is None
    own = await api.request("DELETE", f"/api/v1/keys/{keys['globex-user']}", token=tokens["globex-admin"])
    assert own.status == 200 and own.json["revoked"]
    operator = await api.request("DELETE", f"/api/v1/keys/{keys['acme-user']}")
    assert operator.status == 200 and operator.json["revoked"]


async def test_a_tenant_admin_creates_users_only_in_its_own_tenant(api, tenants):
    tokens, _ = tenants
    admin = tokens["globex-admin"]
    made = await api.request("POST", "/api/v1/users", token=admin,
                             json={"name": "gina", "password": "a long enough passphrase", "role": "admin"})
    assert made.status == 201 and made.json["tenant"] == "globex"  # no tenant given: the admin's own
    refused = await api.request("POST", "/api/v1/users", token=admin, json={
        "name": "mallory", "password": "a long enough passphrase", "role": "admin", "tenant": "acme"})
    assert refused.status == 403 and "globex" in refused.json["error"]["message"], refused
    assert "mallory" not in api.state.accounts.users
    # the operator creates users in any tenant, or deployment-wide ones
    assert (await api.request("POST", "/api/v1/users", json={
        "name": "ops2", "password": "a long enough passphrase", "role": "admin"})).json["tenant"] == ""


async def test_tenant_names_cannot_hold_a_colon(api):
    refused = await api.request("POST", "/api/v1/users", json={
        "name": "carl", "password": "a long enough passphrase", "role": "viewer", "tenant": "acme:flow"})
    assert refused.status == 400 and "':'" in refused.json["error"]["message"], refused
    assert "carl" not in api.state.accounts.users


async def test_a_tenant_admin_reads_only_its_tenants_audit_entries(api, tenants):
    tokens, keys = tenants
    await api.request("POST", "/api/v1/documents?name=a.txt", token=tokens["acme-user"], data=b"acme")
    await api.request("POST", "/api/v1/documents?name=g.txt", token=tokens["globex-user"], data=b"globex")
    await api.request("POST", "/api/v1/documents?name=x.txt", token="not a valid token", data=b"x")  # counted, no principal
    await api.state.audit.write_refused(api.state.audit.refused.take_all())
    seen = (await api.request("GET", "/api/v1/audit?limit=1000", token=tokens["globex-admin"])).json["items"]
    assert seen and {e["actor"] for e in seen} <= {"globex-admin", "globex-user"}, seen
    assert all(e["tenant"] == "globex" for e in seen)
    assert not any("count" in e["details"] for e in seen)  # refusal counts are the operator's
    everything = (await api.request("GET", "/api/v1/audit?limit=1000")).json["items"]
    actors = {e["actor"] for e in everything}
    assert {"acme-user", "globex-user", "anonymous"} <= actors
    assert any("count" in e["details"] for e in everything)


async def test_a_tenant_admin_sees_only_its_tenants_lockouts_and_no_address_blocks(api, tenants):
    tokens, _ = tenants
    # Time stands still: the delay after a failure would otherwise run out while a slow machine
    # makes the other account's attempts, and the first account would no longer be listed.
    now = time.time()
    api.state.accounts.security.clock = lambda: now
    for name in ("acme-user", "globex-user"):
        for _ in range(api.state.accounts.security.settings.max_failures):
            await api.request("POST", "/api/v1/auth/login", token=None, json={"username": name, "password": "x" * 12})
    listed = await api.request("GET", "/api/v1/security/lockouts", token=tokens["globex-admin"])
    assert listed.status == 200 and {(i["kind"], i["name"]) for i in listed.json["items"]} == {("user", "globex-user")}
    everything = await api.request("GET", "/api/v1/security/lockouts")
    assert {"acme-user", "globex-user"} <= {i["name"] for i in everything.json["items"]}
    # an address block acts on every tenant (and lists other tenants' callers' addresses): the operator's
    for method, path, body in (("GET", "/api/v1/security/blocks", None),
                               ("POST", "/api/v1/security/blocks", {"network": "203.0.113.0/24"}),
                               ("DELETE", "/api/v1/security/blocks/203.0.113.0%2F24", None)):
        refused = await api.request(method, path, token=tokens["globex-admin"], json=body)
        assert refused.status == 403 and "deployment" in refused.json["error"]["message"], refused
    assert (await api.request("POST", "/api/v1/security/blocks", json={"network": "203.0.113.0/24"})).status == 201
