"""The ledger through the real API server: roles on its routes, and the audit log anchored."""

import base64

import paperchain_ledger
from paperchain_ledger import runtime


async def test_routes_behind_auth_and_audit_anchored(paperchain_api):
    api = await paperchain_api(paperchain_ledger)
    viewer = await api.user("vera", "viewer")
    body = {"data_base64": base64.b64encode(b"hello ledger").decode()}
    assert (await api.request("POST", "/api/v1/ledger/entries", json=body, token=viewer)).status == 403
    assert (await api.request("POST", "/api/v1/ledger/entries", json=body, token=None)).status == 401
    appended = await api.request("POST", "/api/v1/ledger/entries", json=body)
    assert appended.status in (200, 201), appended
    checkpoint = await api.request("GET", "/api/v1/ledger/checkpoint", token=viewer)
    assert checkpoint.status == 200
    # Every change made through the API is an audit entry, and each is anchored in the log.
    await api.request("PUT", "/api/v1/workflows/w", json={"name": "w", "steps": [{"id": "t", "uses": "document.text"}]})
    await runtime.flush_audit(api.kernel)
    entries = (await api.request("GET", "/api/v1/audit")).json["items"]
    saved = next(e for e in entries if e["action"] == "PUT /api/v1/workflows/{name}")
    anchor = await api.request("GET", f"/api/v1/ledger/audit/{saved['id']}", token=viewer)
    assert anchor.status == 200, anchor
    assert "w" in str(anchor.json)
    spec = (await api.request("GET", "/api/v1/openapi.json", token=None)).json
    assert "/api/v1/ledger/proofs/inclusion" in spec["paths"]
