"""Tenants and the one log: what an entry says belongs to the tenant that appended it.

The tree, its checkpoints and proofs by index reveal only hashes and stay readable to every caller;
entries, receipts, verify-by-hash, audit anchors, accounts and balances answer a tenant's caller
about its own only, and another tenant's answer is the same 404 (or "not found") as an absent one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sqlite3

import pytest
import sqlalchemy as sa

import paperchain_ledger
from paperchain_ledger import runtime
from paperchain_ledger.book import Book
from paperchain_ledger.log import LedgerLog
from paperchain_ledger.storage import anchors
from paperchain_sdk import RunContext

BASE = "/api/v1/ledger"
SECRET = "acme-zebra-7731 merger closes Friday"
DIGEST = hashlib.sha256(b"acme's contract").hexdigest()


def _same(real, real_id, fake, fake_id) -> bool:
    """The same status and body but for the id each was asked about."""
    return (real.status == fake.status
            and real.body.replace(str(real_id).encode(), b"?") == fake.body.replace(str(fake_id).encode(), b"?"))


async def _acme(api) -> dict:
    """Acme's part of the log: an entry, an account with units, a signed document, audit anchors."""
    editor = await api.user("alice-acme", "editor", tenant="acme")
    admin = await api.user("root-acme", "admin", tenant="acme")
    entry = await api.request("POST", f"{BASE}/entries", json={"text": SECRET}, token=editor)
    assert entry.status == 201, entry
    account = await api.request("POST", f"{BASE}/accounts", json={"name": "treasury", "passphrase": "acme passphrase"},
                                token=editor)
    assert account.status == 201, account
    assert (await api.request("POST", f"{BASE}/mint", json={"account": "treasury", "amount": 50}, token=admin)).status == 201
    signed = await api.request("POST", f"{BASE}/records", token=editor, json={
        "account": "treasury", "passphrase": "acme passphrase", "type": "document", "body": {"sha256": DIGEST}})
    assert signed.status == 201, signed
    await runtime.flush_audit(api.kernel)
    audit = (await api.request("GET", "/api/v1/audit", token=admin)).json["items"]
    assert audit and all(item["tenant"] == "acme" for item in audit)
    return {"editor": editor, "admin": admin, "entry": entry.json["index"], "account": account.json["id"],
            "audit": audit[0]["id"]}


@pytest.mark.slow  # several users and sealed account keys (scrypt)
async def test_another_tenant_reads_nothing_of_acmes_entries(paperchain_api):
    api = await paperchain_api(paperchain_ledger)
    acme = await _acme(api)
    globex = await api.user("bob-globex", "editor", tenant="globex")
    globex_admin = await api.user("root-globex", "admin", tenant="globex")
    nowhere = 10 ** 6
    for path in ("/entries/{}", "/entries/{}/receipt"):
        real = await api.request("GET", BASE + path.format(acme["entry"]), token=globex)
        fake = await api.request("GET", BASE + path.format(nowhere), token=globex)
        assert real.status == 404 and _same(real, acme["entry"], fake, nowhere), (path, real, fake)
        assert SECRET.encode() not in real.body
        mine = await api.request("GET", BASE + path.format(acme["entry"]), token=acme["editor"])
        assert mine.status == 200 and SECRET in base64.b64decode(mine.json.get("data_base64") or mine.json["entry"]).decode()
        operator = await api.request("GET", BASE + path.format(acme["entry"]))
        assert operator.status == 200

    # verify-by-hash: "not found", exactly as for a digest nobody notarized
    absent = secrets.token_hex(32)
    real = await api.request("POST", f"{BASE}/verify", json={"sha256": DIGEST}, token=globex)
    fake = await api.request("POST", f"{BASE}/verify", json={"sha256": absent}, token=globex)
    assert real.status == 200 and real.json["found"] is False and _same(real, DIGEST, fake, absent)
    assert (await api.request("POST", f"{BASE}/verify", json={"sha256": DIGEST}, token=acme["editor"])).json["found"]
    assert (await api.request("POST", f"{BASE}/verify", json={"sha256": DIGEST})).json["found"]

    # the anchor of acme's audit entry: acme's, with nothing of globex in it
    real = await api.request("GET", f"{BASE}/audit/{acme['audit']}", token=globex)
    fake = await api.request("GET", f"{BASE}/audit/99999999", token=globex)
    assert real.status == 404 and _same(real, acme["audit"], fake, 99999999), (real, fake)
    assert b"alice-acme" not in real.body
    await api.request("POST", f"{BASE}/entries", json={"text": "globex's own"}, token=globex)
    await runtime.flush_audit(api.kernel)
    anchor = await api.request("GET", f"{BASE}/audit/{acme['audit']}", token=acme["editor"])
    assert anchor.status == 200, anchor
    anchored = json.loads(base64.b64decode(anchor.json["entry"]))
    assert {item["tenant"] for item in anchored["entries"]} == {"acme"}

    # accounts and balances: globex sees its own only, and may use the same name
    assert (await api.request("GET", f"{BASE}/accounts", token=globex)).json["accounts"] == []
    assert (await api.request("GET", f"{BASE}/balances", token=globex)).json["balances"] == {}
    for name in ("treasury", acme["account"]):
        real = await api.request("GET", f"{BASE}/accounts/{name}", token=globex)
        fake = await api.request("GET", f"{BASE}/accounts/nobody", token=globex)
        assert real.status == 404 and _same(real, name, fake, "nobody"), (real, fake)
    own = await api.request("POST", f"{BASE}/accounts", json={"name": "treasury", "passphrase": "globex passphrase"},
                            token=globex)
    assert own.status == 201 and own.json["id"] != acme["account"], own
    assert (await api.request("POST", f"{BASE}/mint", json={"account": "treasury", "amount": 5},
                              token=globex_admin)).status == 201
    ghost = "acct_" + secrets.token_hex(16)
    for body in ({"account": acme["account"], "amount": 5},):  # minting into acme's account
        real = await api.request("POST", f"{BASE}/mint", json=body, token=globex_admin)
        fake = await api.request("POST", f"{BASE}/mint", json={**body, "account": ghost}, token=globex_admin)
        assert real.status == 404 and _same(real, acme["account"], fake, ghost), (real, fake)
    send = {"account": "treasury", "passphrase": "globex passphrase", "type": "transfer"}
    real = await api.request("POST", f"{BASE}/records", token=globex, json={**send, "body": {"to": acme["account"], "amount": 1}})
    fake = await api.request("POST", f"{BASE}/records", token=globex, json={**send, "body": {"to": ghost, "amount": 1}})
    assert real.status == 404 and _same(real, acme["account"], fake, ghost), (real, fake)
    spend = {"account": acme["account"], "passphrase": "acme passphrase", "type": "vote", "body": {"ballot": "b", "choice": "y"}}
    real = await api.request("POST", f"{BASE}/records", token=globex, json=spend)
    fake = await api.request("POST", f"{BASE}/records", token=globex, json={**spend, "account": ghost})
    assert real.status == 404 and _same(real, acme["account"], fake, ghost), (real, fake)
    theirs = (await api.request("GET", f"{BASE}/accounts/treasury", token=acme["editor"])).json
    assert theirs["id"] == acme["account"] and theirs["balance"] == 50 and theirs["nonce"] == 1
    operator = (await api.request("GET", f"{BASE}/accounts")).json["accounts"]
    assert sorted(a["id"] for a in operator) == sorted([acme["account"], own.json["id"]])
    assert (await api.request("GET", f"{BASE}/accounts/acme:treasury")).json["id"] == acme["account"]

    # what only reveals hashes stays public: the tree, its checkpoint and proofs by index
    assert (await api.request("GET", f"{BASE}/checkpoint", token=globex)).status == 200
    proof = await api.request("GET", f"{BASE}/proofs/inclusion?index={acme['entry']}", token=globex)
    assert proof.status == 200 and SECRET.encode() not in proof.body


def test_the_steps_use_the_runs_tenant(paperchain_kernel, paperchain_document):
    harness = paperchain_kernel(paperchain_ledger)
    doc = paperchain_document("deal.txt", "acme's deal")
    notarize, verify = (harness.kernel.component(name) for name in ("ledger.notarize", "ledger.verify"))

    def ctx(tenant: str, step: str) -> RunContext:
        return RunContext(run_id=f"r-{tenant}", step_id=step, workflow="w", idempotency_key=f"r-{tenant}:{step}",
                          document=doc, work_dir=str(harness.kernel.data_dir / "work"), tenant=tenant)

    done = notarize.run(ctx("acme", "notarize"), paperchain_ledger.NotarizeSettings())
    found = {t: verify.run(ctx(t, "check"), paperchain_ledger.VerifySettings()) for t in ("acme", "globex", "")}
    assert found["acme"]["found"] and found["acme"]["entries"] == [done.outputs["index"]]
    assert found["globex"] == {"found": False, "sha256": doc.id, "entries": []}
    assert found[""]["found"]  # the operator's runs see every tenant's
    book = runtime.book_for_kernel(harness.kernel)
    with pytest.raises(Exception, match="no entry"):
        book.entry(done.outputs["index"], tenant="globex")


def test_audit_entries_are_anchored_per_tenant(book):
    items = [{"id": i, "tenant": tenant, "actor": f"user-{i}"} for i, tenant in enumerate(["acme", "", "globex", "acme"])]
    book.anchor_audit(items)
    for item in items:
        receipt = book.audit_anchor(str(item["id"]), tenant=item["tenant"])
        held = json.loads(base64.b64decode(receipt["entry"]))["entries"]
        assert {i["tenant"] for i in held} == {item["tenant"]} and item in held
    with pytest.raises(Exception, match="not anchored"):
        book.audit_anchor("0", tenant="globex")
    assert book.audit_anchor("0", tenant="")["index"] == book.audit_anchor("3", tenant="acme")["index"]


def test_a_log_made_before_tenants_opens_with_its_accounts_in_the_no_tenant_scope(tmp_path):
    directory = tmp_path / "ledger"
    directory.mkdir()
    old = sqlite3.connect(directory / "ledger.db")
    old.execute("CREATE TABLE ledger_accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, public_key BLOB NOT NULL, "
                "secret TEXT, balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0), nonce INTEGER NOT NULL DEFAULT 0, "
                "idx INTEGER NOT NULL, created TEXT NOT NULL)")
    old.execute("INSERT INTO ledger_accounts VALUES ('acct_old', 'treasury', ?, NULL, 7, 0, 0, '2026-01-01T00:00:00Z')",
                (b"k" * 32,))
    old.commit()
    old.close()
    log = LedgerLog.open(directory)
    try:
        book = Book(log, scrypt_n=1 << 12)
        assert book.account("treasury")["balance"] == 7
        assert book.accounts(tenant="acme") == []
        assert book.create_account("treasury", "acme passphrase", tenant="acme")["id"] != "acct_old"
    finally:
        log.close()


def test_an_idempotency_key_never_answers_another_tenants_receipt(book):
    """Keys are kept per tenant: the same key from another tenant appends its own entry."""
    digest = "cd" * 32
    acme = book.notarize(digest, {"name": "acme.pdf"}, key="run-1:notarize", tenant="acme")
    globex = book.notarize(digest, {"name": "globex.pdf"}, key="run-1:notarize", tenant="globex")
    assert globex["index"] != acme["index"] and b"acme.pdf" not in base64.b64decode(globex["entry"])
    assert book.notarize(digest, key="run-1:notarize", tenant="acme")["index"] == acme["index"]
    assert book.find_document(digest, tenant="globex") == [globex["index"]]


# Operations of the ledger that do not read or change what a tenant appended.
PUBLIC = {("GET", "/api/v1/ledger/checkpoint"), ("GET", "/api/v1/ledger/proofs/inclusion"),
          ("GET", "/api/v1/ledger/proofs/consistency")}  # signed sizes and hashes only
OWN_WRITES = {("POST", "/api/v1/ledger/entries"), ("POST", "/api/v1/ledger/accounts")}  # always the caller's own


def _ledger_values(acme: dict | None) -> dict:
    """Path ids, query and bodies aimed at acme's things, or (None) at things that exist nowhere."""
    if acme is None:
        acme = {"entry": 10 ** 6, "audit": 99999999, "account": "acct_" + secrets.token_hex(16)}
        digest = secrets.token_hex(32)
    else:
        digest = DIGEST
    return {"path": {"index": str(acme["entry"]), "audit_id": str(acme["audit"]), "account": acme["account"]},
            "ids": [str(acme["entry"]), str(acme["audit"]), acme["account"], digest],
            "body": {"/verify": {"sha256": digest}, "/mint": {"account": acme["account"], "amount": 1},
                     "/records": {"account": acme["account"], "passphrase": "acme passphrase", "type": "vote",
                                  "body": {"ballot": "b", "choice": "y"}}}}


async def _state(api, acme: dict) -> tuple:
    """Acme's entry, accounts (balances, nonces) and anchored audit entry (receipts grow with the log)."""
    get = lambda path: api.request("GET", f"{BASE}/{path}", token=acme["editor"])  # noqa: E731
    anchor = (await get(f"audit/{acme['audit']}")).json
    return ((await get(f"entries/{acme['entry']}")).json, (await get("accounts")).json,
            (anchor["index"], anchor["entry"]))


def _blank(body: bytes, token: str) -> bytes:
    return re.sub(rb"(?<![0-9A-Za-z_])" + re.escape(token.encode()) + rb"(?![0-9A-Za-z_])", b"?", body)


@pytest.mark.slow  # several users and sealed account keys (scrypt)
async def test_every_ledger_route_in_the_openapi_document_as_another_tenant(paperchain_api):
    """Every ledger operation the API describes, called by globex with acme's ids and with ids that
    exist nowhere: the same answers, nothing of acme's in them, and acme's things unchanged."""
    api = await paperchain_api(paperchain_ledger)
    acme = await _acme(api)
    before = await _state(api, acme)
    spec = (await api.request("GET", "/api/v1/openapi.json")).json
    operations = [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(BASE) for m in ops]
    assert len(operations) >= 14
    callers = [await api.user(f"globex-{role}", role, tenant="globex") for role in ("viewer", "editor", "admin")]
    real_values, fake_values = _ledger_values(acme), _ledger_values(None)
    problems = []
    for method, template in operations:
        if (method, template) in OWN_WRITES:
            continue
        answers = []
        for values in (real_values, fake_values):
            path = template.format(**values["path"]) if "{" in template else template
            body = values["body"].get(template.removeprefix(BASE)) if method == "POST" else None
            answers.append(await api.request(method, path, json=body, token=callers[2]))
        real, fake = answers
        if SECRET.encode() in real.body or b"alice-acme" in real.body:
            problems.append(f"{method} {template}: acme's content in {real.body[:200]!r}")
        if (method, template) in PUBLIC:
            continue
        real_body, fake_body = real.body, fake.body
        # the ids each call named may be echoed back (whole tokens, longest first: an index "1" is in
        # many ids, and in the "/api/v1/" of a hint)
        for mine, theirs in sorted(zip(real_values["ids"], fake_values["ids"]), key=lambda p: -len(p[0])):
            real_body, fake_body = _blank(real_body, mine), _blank(fake_body, theirs)
        if real.status != fake.status or real_body != fake_body:
            problems.append(f"{method} {template}: {real.status} {real.body[:200]!r} for acme's, "
                            f"{fake.status} {fake.body[:200]!r} for nothing")
        if any(i.encode() in real_body for i in real_values["ids"][:3] if len(i) > 3):
            problems.append(f"{method} {template}: acme's ids in {real.body[:200]!r}")
    for role_token in callers:  # nor do the lists of any role hold acme's
        for path in ("accounts", "balances"):
            listed = await api.request("GET", f"{BASE}/{path}", token=role_token)
            assert listed.status == 200 and acme["account"].encode() not in listed.body, listed
    assert not problems, "\n".join(problems)
    assert await _state(api, acme) == before


def test_an_explicit_flush_waits_for_the_batch_the_timer_took(paperchain_kernel, monkeypatch):
    """flush_audit returned at once while the timer's flush was still anchoring, so a lookup right
    after it could miss an audit entry that had been recorded well before."""
    import asyncio
    import time

    harness = paperchain_kernel(paperchain_ledger)
    book = runtime.book_for_kernel(harness.kernel)
    anchor = book.anchor_audit
    monkeypatch.setattr(book, "anchor_audit", lambda batch: (time.sleep(0.2), anchor(batch))[1])

    async def scenario():
        state = runtime.kernel_ledger(harness.kernel)
        state.audit.append({"id": "41", "tenant": "acme", "actor": "alice"})
        timer = asyncio.get_running_loop().create_task(state.flush())
        await asyncio.sleep(0.01)  # the timer's flush has taken the batch
        await runtime.flush_audit(harness.kernel)
        found = book.log.read(sa.select(anchors.c.idx).where(anchors.c.audit_id == "41"))
        await timer
        return found

    assert harness.call(scenario()) == [(0,)]
