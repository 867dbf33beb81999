"""Workflows and runs through the API: versions, validation, start, cancel, retry, logs, artifacts."""

import asyncio

import pytest
import sqlalchemy as sa

from paperchain.store import tables

WAIT = {"name": "waiter", "steps": [{"id": "a", "uses": "test.wait", "with": {"seconds": 0.01}},
                                    {"id": "b", "uses": "test.wait", "needs": ["a"]}]}
TOML = b'''name = "texty"
[[steps]]
id = "text"
uses = "document.text"
'''


async def test_workflow_lifecycle_and_versions(api):
    created = await api.request("POST", "/api/v1/workflows", json=WAIT)
    assert created.status == 201 and created.json["steps"] == ["a", "b"] and created.json["enabled"]
    assert (await api.request("POST", "/api/v1/workflows", json=WAIT)).status == 409
    toml = await api.request("POST", "/api/v1/workflows", data=TOML, headers={"Content-Type": "application/toml"})
    assert toml.status == 201 and toml.json["name"] == "texty"
    changed = {**WAIT, "description": "now described"}
    assert (await api.request("PUT", "/api/v1/workflows/waiter", json=changed)).status == 200
    versions = await api.request("GET", "/api/v1/workflows/waiter/versions")
    assert len(versions.json["items"]) == 2
    mismatch = await api.request("PUT", "/api/v1/workflows/other", json=WAIT)
    assert mismatch.status == 400 and "agree" in mismatch.json["error"]["details"]["hint"]
    names = [w["name"] for w in (await api.request("GET", "/api/v1/workflows")).json["items"]]
    assert names == ["texty", "waiter"]
    assert (await api.request("POST", "/api/v1/workflows/waiter/disable")).json["enabled"] is False
    refused = await api.request("POST", "/api/v1/runs", json={"workflow": "waiter"})
    assert refused.status == 409 and "disabled" in refused.json["error"]["message"]
    assert (await api.request("POST", "/api/v1/workflows/waiter/enable")).json["enabled"] is True
    assert (await api.request("DELETE", "/api/v1/workflows/waiter")).status == 204
    assert (await api.request("GET", "/api/v1/workflows/waiter")).status == 404


async def test_validation_gives_the_cli_errors_and_saves_nothing(api):
    from paperchain_sdk import ConfigError

    bad = {"name": "bad", "steps": [{"id": "x", "uses": "test.wiat"}]}
    reply = await api.request("POST", "/api/v1/workflows/validate", json=bad)
    try:
        api.kernel.workflows.validate(bad)
    except ConfigError as exc:
        cli_message = exc.message
    assert reply.status == 400 and reply.json["error"]["message"] == cli_message
    assert "test.wait" in reply.json["error"]["details"]["hint"]  # did you mean
    good = await api.request("POST", "/api/v1/workflows/validate", json=WAIT)
    assert good.status == 200 and good.json["valid"] and good.json["steps"] == ["a", "b"]
    assert (await api.request("GET", "/api/v1/workflows")).json["items"] == []
    broken = await api.request("POST", "/api/v1/workflows/validate", data=b"name = ", headers={"Content-Type": "application/toml"})
    assert broken.status == 400 and "TOML" in broken.json["error"]["message"]
    wrong = await api.request("POST", "/api/v1/workflows/validate", data=b"<xml/>", headers={"Content-Type": "text/xml"})
    assert wrong.status == 415


async def test_start_a_run_for_a_document_and_read_it_back(api):
    await api.request("POST", "/api/v1/workflows", data=TOML, headers={"Content-Type": "application/toml"})
    doc = (await api.request("POST", "/api/v1/documents?name=a.txt", data=b"some words to count")).json
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "texty", "documents": [doc["id"]]})
    assert started.status == 202 and len(started.json["runs"]) == 1
    run = await api.wait_run(started.json["runs"][0])
    assert run["status"] == "succeeded" and run["document"] == doc["id"]
    step = run["steps"][0]
    assert step["id"] == "text" and step["attempts"][0]["status"] == "succeeded" and step["attempts"][0]["seconds"] >= 0
    logs = await api.request("GET", f"/api/v1/runs/{run['id']}/logs")
    assert [line["message"] for line in logs.json["items"]][-1] == "succeeded"
    text = await api.request("GET", f"/api/v1/documents/{doc['id']}/text")
    assert text.body == b"some words to count"
    listed = await api.request("GET", "/api/v1/runs?workflow=texty&status=succeeded")
    assert [r["id"] for r in listed.json["items"]] == [run["id"]]
    unknown = await api.request("POST", "/api/v1/runs", json={"workflow": "texty", "documents": ["nope"]})
    assert unknown.status == 404
    missing = await api.request("POST", "/api/v1/runs", json={"workflow": "nothing-here"})
    assert missing.status == 404


async def test_idempotency_key_starts_one_batch(api):
    await api.request("POST", "/api/v1/workflows", json=WAIT)
    body = {"workflow": "waiter", "idempotency_key": "order-42"}
    first, second = await asyncio.gather(api.request("POST", "/api/v1/runs", json=body),
                                         api.request("POST", "/api/v1/runs", json=body))
    assert first.json["batch"] == second.json["batch"]
    batches = tables.batches
    assert await api.kernel.sql.scalar(sa.select(sa.func.count()).where(batches.c.workflow == "waiter")) == 1


async def test_cancel_a_running_run(api):
    await api.request("POST", "/api/v1/workflows",
                      json={"name": "slow", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 30}}]})
    run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "slow"})).json["runs"][0]
    for _ in range(100):
        if (await api.request("GET", f"/api/v1/runs/{run_id}")).json["status"] == "running":
            break
        await asyncio.sleep(0.02)
    cancelled = await api.request("POST", f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status == 200 and cancelled.json["status"] == "cancelled"
    again = await api.request("POST", f"/api/v1/runs/{run_id}/cancel")
    assert again.status == 409


async def test_retry_a_failed_run_from_the_failed_step(api, tmp_path):
    marker = tmp_path / "fixed"
    await api.request("POST", "/api/v1/workflows", json={"name": "fragile", "steps": [
        {"id": "first", "uses": "test.wait", "with": {"seconds": 0}},
        {"id": "fragile", "uses": "test.fail_until_fixed", "needs": ["first"], "with": {"marker": str(marker)}},
        {"id": "after", "uses": "test.wait", "needs": ["fragile"], "with": {"seconds": 0}},
    ]})
    run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "fragile"})).json["runs"][0]
    failed = await api.wait_run(run_id)
    assert failed["status"] == "failed" and "marker" in failed["error"]
    assert (await api.request("POST", f"/api/v1/runs/{run_id}/retry")).status == 202
    await asyncio.sleep(0)  # the retry fails again: nothing fixed yet
    assert (await api.wait_run(run_id))["status"] == "failed"
    marker.write_text("ok")
    assert (await api.request("POST", f"/api/v1/runs/{run_id}/retry")).status == 202
    done = await api.wait_run(run_id)
    steps = {s["id"]: s for s in done["steps"]}
    assert done["status"] == "succeeded"
    assert len(steps["first"]["attempts"]) == 1  # the finished step was not run again
    assert [a["status"] for a in steps["fragile"]["attempts"]] == ["failed", "failed", "succeeded"]
    assert (await api.request("POST", f"/api/v1/runs/{run_id}/retry")).status == 409


async def test_artifacts_list_and_download(paperchain_api):
    from api_support import TestPlugin

    from paperchain_sdk import ActionSpec, Artifact, Result, hookimpl
    from paperchain_sdk.contracts import Action

    class Writer(Action):
        def run(self, ctx, inputs):
            return Result(outputs={}, artifacts=[Artifact(name="hello.txt", media_type="text/plain", data=b"hello")])

    class Plugin:
        @hookimpl
        def paperchain_actions(self):
            return [ActionSpec(name="test.write", impl=Writer)]

    api = await paperchain_api(TestPlugin(), Plugin())
    await api.request("POST", "/api/v1/workflows", json={"name": "w", "steps": [{"id": "out", "uses": "test.write"}]})
    run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "w"})).json["runs"][0]
    await api.wait_run(run_id)
    items = (await api.request("GET", f"/api/v1/runs/{run_id}/artifacts")).json["items"]
    assert [(a["step"], a["name"], a["size"]) for a in items] == [("out", "hello.txt", 5)]
    got = await api.request("GET", f"/api/v1/runs/{run_id}/artifacts/out/hello.txt")
    assert got.status == 200 and got.body == b"hello"
    assert (await api.request("GET", f"/api/v1/runs/{run_id}/artifacts/out/nope.txt")).status == 404


# -- tenants (issue 13) -------------------------------------------------------------------------

INTAKE = {"name": "intake", "steps": [{"id": "a", "uses": "test.wait", "with": {"seconds": 0.01}}]}
REWRITTEN = {"name": "intake", "steps": [{"id": "a", "uses": "test.wait", "with": {"seconds": 0.01}},
                                         {"id": "leak", "uses": "test.wait", "needs": ["a"]}]}


async def test_another_tenant_can_neither_see_nor_rewrite_a_workflow(api):
    """The audit's reproducer: another tenant's editor rewrote a workflow that the first tenant runs."""
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    mine = await api.request("POST", "/api/v1/workflows", json=INTAKE, token=acme)
    assert mine.status == 201 and mine.json["tenant"] == "acme"
    for method, path in (("GET", "/api/v1/workflows/intake"), ("GET", "/api/v1/workflows/intake/versions"),
                         ("POST", "/api/v1/workflows/intake/disable"), ("DELETE", "/api/v1/workflows/intake")):
        assert (await api.request(method, path, token=globex)).status == 404, (method, path)
    assert (await api.request("GET", "/api/v1/workflows", token=globex)).json["items"] == []
    # globex's PUT makes globex's own workflow of that name; acme's stays as it was
    theirs = await api.request("PUT", "/api/v1/workflows/intake", json=REWRITTEN, token=globex)
    assert theirs.status == 200 and theirs.json["tenant"] == "globex" and theirs.json["steps"] == ["a", "leak"]
    again = await api.request("GET", "/api/v1/workflows/intake", token=acme)
    assert again.json["hash"] == mine.json["hash"] and again.json["steps"] == ["a"]
    assert [v["hash"] for v in (await api.request("GET", "/api/v1/workflows/intake/versions", token=acme)).json["items"]] \
        == [mine.json["hash"]]
    run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "intake"}, token=acme)).json["runs"][0]
    run = await api.wait_run(run_id)
    assert [s["id"] for s in run["steps"]] == ["a"]  # acme's definition ran, not globex's
    # the operator sees both, each by its ref
    refs = sorted(w["ref"] for w in (await api.request("GET", "/api/v1/workflows")).json["items"])
    assert refs == ["acme:intake", "globex:intake"]
    assert (await api.request("GET", "/api/v1/workflows/acme:intake")).json["steps"] == ["a"]


async def test_an_admin_shares_a_workflow_to_read_and_run_only(api):
    globex = await api.user("bob", "editor", tenant="globex")
    globex_admin = await api.user("gina", "admin", tenant="globex")
    assert (await api.request("POST", "/api/v1/workflows", json=INTAKE)).status == 201  # deployment-wide
    assert (await api.request("GET", "/api/v1/workflows/intake", token=globex)).status == 404
    refused = await api.request("PUT", "/api/v1/workflows/intake/shares/globex", token=globex_admin)
    assert refused.status == 403 and "deployment" in refused.json["error"]["message"]
    shared = await api.request("PUT", "/api/v1/workflows/intake/shares/globex")
    assert shared.status == 200 and shared.json == {"workflow": "intake", "tenants": ["globex"]}
    audit = (await api.request("GET", "/api/v1/audit")).json["items"]
    assert any(e["target"] == "workflow:intake" and e["action"].startswith("PUT") for e in audit)
    seen = await api.request("GET", "/api/v1/workflows/intake", token=globex)
    assert seen.status == 200 and seen.json["shared"] is True
    assert [w["name"] for w in (await api.request("GET", "/api/v1/workflows", token=globex)).json["items"]] == ["intake"]
    for method, path in (("POST", "/api/v1/workflows/intake/disable"), ("DELETE", "/api/v1/workflows/intake")):
        answer = await api.request(method, path, token=globex)
        assert answer.status == 403 and "read and run" in answer.json["error"]["message"]
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "intake"}, token=globex)
    assert started.status == 202
    await api.wait_run(started.json["runs"][0])
    assert (await api.request("GET", f"/api/v1/runs/{started.json['runs'][0]}", token=globex)).status == 200
    unshared = await api.request("DELETE", "/api/v1/workflows/intake/shares/globex")
    assert unshared.json["tenants"] == []
    assert (await api.request("GET", "/api/v1/workflows/intake", token=globex)).status == 404
    assert (await api.request("POST", "/api/v1/runs", json={"workflow": "intake"}, token=globex)).status == 404


async def test_workflow_files_are_shared_with_every_tenant_until_an_admin_withdraws_it(api, tmp_path):
    import json

    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "intake.json").write_text(json.dumps(INTAKE))
    globex = await api.user("bob", "viewer", tenant="globex")
    await api.kernel.workflows.load_dir(folder)
    assert (await api.request("GET", "/api/v1/workflows/intake", token=globex)).json["shared"] is True
    assert (await api.request("GET", "/api/v1/workflows/intake/shares")).json["tenants"] == ["*"]
    await api.request("DELETE", "/api/v1/workflows/intake/shares/*")
    await api.kernel.workflows.load_dir(folder)  # a restart loads the files again
    assert (await api.request("GET", "/api/v1/workflows/intake", token=globex)).status == 404


async def test_a_run_belongs_to_the_tenant_recorded_with_its_batch(api):
    """Runs used to be matched to a tenant through the user list at read time, so a run started
    by the operator or a trigger for a tenant's workflow was invisible to that tenant."""
    acme = await api.user("alice", "viewer", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    await api.kernel.workflows.save(INTAKE, tenant="acme")
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "acme:intake"})  # the operator, by ref
    run_id = started.json["runs"][0]
    await api.wait_run(run_id)
    assert (await api.request("GET", f"/api/v1/runs/{run_id}", token=acme)).status == 200
    assert [r["id"] for r in (await api.request("GET", "/api/v1/runs", token=acme)).json["items"]] == [run_id]
    for method, path in (("GET", f"/api/v1/runs/{run_id}"), ("GET", f"/api/v1/runs/{run_id}/logs"),
                         ("GET", f"/api/v1/runs/{run_id}/artifacts"), ("POST", f"/api/v1/runs/{run_id}/cancel"),
                         ("POST", f"/api/v1/runs/{run_id}/retry")):
        assert (await api.request(method, path, token=globex)).status == 404, (method, path)
    assert (await api.request("GET", "/api/v1/runs", token=globex)).json["items"] == []
    batches = tables.batches
    assert await api.kernel.sql.scalar(sa.select(batches.c.tenant).where(batches.c.id == started.json["batch"])) == "acme"


async def test_idempotency_keys_do_not_cross_tenants(api):
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    for token in (acme, globex):
        await api.request("POST", "/api/v1/workflows", json=INTAKE, token=token)
    body = {"workflow": "intake", "idempotency_key": "order-7"}
    first = (await api.request("POST", "/api/v1/runs", json=body, token=acme)).json
    other = (await api.request("POST", "/api/v1/runs", json=body, token=globex)).json
    assert other["batch"] != first["batch"]
    assert (await api.request("POST", "/api/v1/runs", json=body, token=acme)).json["batch"] == first["batch"]
    await api.wait_run(first["runs"][0])
    await api.wait_run(other["runs"][0])


def test_migration_keeps_existing_workflows_in_the_deployment_wide_scope(tmp_path):
    import sqlite_utils

    from paperchain.store import schema

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    for number, migration in enumerate(schema.MIGRATIONS[:3], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db["workflow_versions"].insert({"hash": "h1", "name": "intake", "definition": "{}", "created": "t"})
    db["workflows"].insert({"name": "intake", "hash": "h1", "enabled": 1, "created": "t", "updated": "t",
                            "origin": "/flows/intake.toml", "created_by": "files", "tenant": None})
    db["workflows"].insert({"name": "typed", "hash": "h1", "enabled": 1, "created": "t", "updated": "t",
                            "origin": "api", "created_by": "alice", "tenant": None})
    db["users"].insert({"name": "alice", "role": "editor", "tenant": "acme"})
    db["batches"].insert({"id": "b1", "workflow": "intake", "created_by": "alice"})
    db["batches"].insert({"id": "b2", "workflow": "intake", "created_by": None})
    db.conn.commit()
    db.close()
    schema.migrate(path)
    db = sqlite_utils.Database(path)
    assert [(r["tenant"], r["name"]) for r in db["workflows"].rows] == [("", "intake"), ("", "typed")]
    # files were run by every tenant before: they stay shared to run; nothing else is
    assert [(r["owner"], r["name"], r["tenant"]) for r in db["workflow_shares"].rows] == [("", "intake", "*")]
    assert [(r["tenant"], r["name"], r["hash"]) for r in db["workflow_history"].rows] == [("", "intake", "h1")]
    assert {r["id"]: r["tenant"] for r in db["batches"].rows} == {"b1": "acme", "b2": ""}
    db.close()


def test_the_operator_shares_a_workflow_from_the_command_line(tmp_path):
    import sqlite3

    from kernel_support import run_cli

    from paperchain.harness import KernelHarness

    data = tmp_path / "data"
    harness = KernelHarness([], data_dir=data)
    try:
        harness.call(harness.kernel.workflows.save({"name": "intake", "steps": [{"id": "a", "uses": "document.text"}]},
                                                   tenant="acme"))
    finally:
        harness.close()
    env = {"PAPERCHAIN_DATA_DIR": str(data)}
    shared = run_cli("workflows", "share", "acme:intake", "globex", cwd=tmp_path, env=env)
    assert shared.returncode == 0 and "acme:intake: shared with globex" in shared.stdout, shared.stderr
    listed = run_cli("workflows", "shares", "acme:intake", cwd=tmp_path, env=env)
    assert "shared with globex" in listed.stdout
    missing = run_cli("workflows", "share", "nothing-here", "globex", cwd=tmp_path, env=env)
    assert missing.returncode != 0 and "no workflow named 'nothing-here'" in missing.stderr + missing.stdout
    assert "Traceback" not in missing.stderr
    unshared = run_cli("workflows", "unshare", "acme:intake", "globex", cwd=tmp_path, env=env)
    assert "shared with no other tenant" in unshared.stdout
    with sqlite3.connect(data / "paperchain.db") as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit WHERE target = 'workflow:acme:intake' ORDER BY id")]
    assert actions == ["workflows share", "workflows unshare"]


async def test_a_tenants_webhook_starts_that_tenants_workflow(paperchain_api):
    import json
    import time

    from api_support import TestPlugin

    import paperchain_triggers
    from paperchain_sdk.signatures import sign

    api = await paperchain_api(TestPlugin(), paperchain_triggers)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    secret = "a-webhook-secret-for-this-test"
    for token in (acme, globex):  # the same name in two tenants: two webhooks
        hooked = {**INTAKE, "on": {"webhook": {"secret": secret}}}
        assert (await api.request("POST", "/api/v1/workflows", json=hooked, token=token)).status == 201
    body = json.dumps({"invoice": 42}).encode()
    for _ in range(50):  # the trigger host starts the new workflow's webhook in the background
        stamp = str(int(time.time()))
        answer = await api.request("POST", "/hooks/acme:intake", token=None, data=body, headers={
            "X-Paperchain-Timestamp": stamp, "X-Paperchain-Signature": sign(secret, stamp, body),
            "Content-Type": "application/json"})
        if answer.status != 404:
            break
        await asyncio.sleep(0.1)
    assert answer.status == 202, answer
    runs = (await api.request("GET", f"/api/v1/runs?batch={answer.json['batch']}", token=acme)).json["items"]
    assert len(runs) == 1 and (await api.wait_run(runs[0]["id"]))["status"] == "succeeded"
    assert (await api.request("GET", f"/api/v1/runs?batch={answer.json['batch']}", token=globex)).json["items"] == []


async def test_files_a_tenants_batch_ingests_are_that_tenants_documents(api, tmp_path):
    """A trigger (folder, webhook) of a tenant's workflow stored its files as deployment-wide documents."""
    acme = await api.user("alice", "viewer", tenant="acme")
    await api.kernel.workflows.save(INTAKE, tenant="acme")
    scan = tmp_path / "scan.txt"
    scan.write_text("a scanned letter for acme")
    batch = await api.kernel.submit("acme:intake", paths=(str(scan),), source="trigger:folder")
    runs = (await api.request("GET", f"/api/v1/runs?batch={batch}", token=acme)).json["items"]
    run = await api.wait_run(runs[0]["id"])
    assert (await api.request("GET", f"/api/v1/documents/{run['document']}", token=acme)).status == 200


async def test_a_tenants_workflow_never_runs_on_another_tenants_document(api):
    """A data-change trigger of acme's workflow fired for globex's document event and ran on it."""
    from paperchain_sdk import NotFoundError

    globex = await api.user("bob", "editor", tenant="globex")
    theirs = (await api.request("POST", "/api/v1/documents?name=g.txt", data=b"globex only", token=globex)).json["id"]
    await api.kernel.workflows.save(INTAKE, tenant="acme")
    with pytest.raises(NotFoundError):
        await api.kernel.submit("acme:intake", documents=(theirs,), source="trigger:data-change")
    assert (await api.request("GET", f"/api/v1/runs?document={theirs}")).json["items"] == []


async def test_an_event_trigger_of_a_tenants_workflow_hears_only_its_tenants_events(paperchain_api):
    """An event trigger of acme's workflow fired for globex's events and handed it their data."""
    from api_support import TestPlugin

    import paperchain_triggers

    api = await paperchain_api(TestPlugin(), paperchain_triggers)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    listener = {**INTAKE, "name": "on-upload", "on": {"event": {"types": ["document.ingested"]}}}
    assert (await api.request("POST", "/api/v1/workflows", json=listener, token=acme)).status == 201
    await asyncio.sleep(0.3)  # the trigger host starts the new workflow's trigger in the background
    await api.request("POST", "/api/v1/documents?name=g.txt", data=b"globex's upload", token=globex)
    await api.request("POST", "/api/v1/documents?name=a.txt", data=b"acme's upload", token=acme)
    for _ in range(100):
        runs = (await api.request("GET", "/api/v1/runs?workflow=on-upload")).json["items"]
        if runs:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a run for globex's upload would have started by now as well
    runs = (await api.request("GET", "/api/v1/runs?workflow=on-upload")).json["items"]
    assert len(runs) == 1, runs
    run = await api.wait_run(runs[0]["id"])
    assert run["status"] == "succeeded"
    batches = tables.batches
    assert "a.txt" in await api.kernel.sql.scalar(sa.select(batches.c.inputs).where(batches.c.id == run["batch"]))
