"""The HTTP routes on a real aiohttp server (loopback), mounted on a bare app."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from aiohttp.test_utils import TestClient, TestServer

import paperchain_ledger
from paperchain_ledger import merkle
from paperchain_ledger.verifier import verify_receipt
from paperchain_sdk.testing.routes import routes_app
from paperchain_sdk.web import endpoint_doc


def test_routes(paperchain_kernel):
    harness = paperchain_kernel(paperchain_ledger)
    routes = paperchain_ledger.paperchain_routes(harness.kernel)
    assert all(r.path.startswith("/api/v1/ledger/") for r in routes)
    assert all(endpoint_doc(r.handler).summary for r in routes)
    asyncio.run(_scenario(routes, harness.kernel))


async def _scenario(routes, kernel):
    app = routes_app(kernel, routes)  # the kernel for kernel_of, an admin caller, the server's error answers
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        base = "/api/v1/ledger"
        r = await client.post(f"{base}/entries", json={"text": "hello"})
        assert r.status == 201
        receipt = await r.json()
        cp = await (await client.get(f"{base}/checkpoint")).json()
        assert verify_receipt(receipt, cp["key"])["index"] == 0
        for i in range(6):
            await client.post(f"{base}/entries", json={"data_base64": base64.b64encode(b"%d" % i).decode()})
        entry = await (await client.get(f"{base}/entries/3")).json()
        assert entry["text"] == "2"
        inc = await (await client.get(f"{base}/proofs/inclusion", params={"index": 3, "tree_size": 5})).json()
        merkle.verify_inclusion(3, 5, base64.b64decode(inc["leaf_hash"]), [base64.b64decode(p) for p in inc["proof"]],
                                base64.b64decode(inc["root"]))
        con = await (await client.get(f"{base}/proofs/consistency", params={"first": 3})).json()
        assert con["second"] == 7
        merkle.verify_consistency(3, 7, base64.b64decode(con["first_root"]), base64.b64decode(con["second_root"]),
                                  [base64.b64decode(p) for p in con["proof"]])
        assert (await client.get(f"{base}/entries/99")).status == 404
        assert (await client.get(f"{base}/proofs/inclusion", params={"index": "x"})).status == 400
        assert (await client.post(f"{base}/entries", json={"text": "a", "data_base64": "YQ=="})).status == 400
        assert (await client.post(f"{base}/entries", data="not json")).status == 400

        alice = await client.post(f"{base}/accounts", json={"name": "alice", "passphrase": "alice passphrase"})
        assert alice.status == 201
        alice = await alice.json()
        bob = await (await client.post(f"{base}/accounts", json={"name": "bob", "passphrase": "bob passphrase"})).json()
        assert (await client.post(f"{base}/mint", json={"account": "alice", "amount": 10})).status == 201
        send = {"account": "alice", "passphrase": "alice passphrase", "type": "transfer",
                "body": {"to": bob["id"], "amount": 4}}
        assert (await client.post(f"{base}/records", json=send)).status == 201
        size = (await (await client.get(f"{base}/checkpoint")).json())["tree_size"]
        too_much = dict(send, body={"to": bob["id"], "amount": 7})
        refused = await client.post(f"{base}/records", json=too_much)
        assert refused.status == 409 and "overdraft" in (await refused.json())["error"]["message"]
        assert (await (await client.get(f"{base}/checkpoint")).json())["tree_size"] == size
        balances = (await (await client.get(f"{base}/balances")).json())["balances"]
        assert balances == {alice["id"]: 6, bob["id"]: 4}
        accounts = (await (await client.get(f"{base}/accounts")).json())["accounts"]
        assert [a["name"] for a in accounts] == ["alice", "bob"]
        assert (await (await client.get(f"{base}/accounts/bob")).json())["balance"] == 4
        assert (await client.get(f"{base}/accounts/nobody")).status == 404

        digest = hashlib.sha256(b"%PDF-1.7 contract").hexdigest()
        sign_doc = dict(send, type="document", body={"sha256": digest})
        assert (await client.post(f"{base}/records", json=sign_doc)).status == 201
        found = await (await client.post(f"{base}/verify", json={"data_base64": base64.b64encode(b"%PDF-1.7 contract").decode()})).json()
        assert found["found"] and verify_receipt(found["receipt"], cp["key"])
        missing = await (await client.post(f"{base}/verify", json={"sha256": "0" * 64})).json()
        assert missing == {"found": False, "sha256": "0" * 64, "entries": [], "receipt": None}
        receipt_now = await (await client.get(f"{base}/entries/0/receipt")).json()
        assert verify_receipt(receipt_now, cp["key"])["tree_size"] > 1
