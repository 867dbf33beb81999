"""The webhook trigger through the real API server (paperchain serve's app, with its middleware)."""

import json
import time

import paperchain_triggers
from paperchain_sdk.signatures import sign

SECRET = "s3cret-for-the-test"
FLOW = {"name": "hooked", "on": {"webhook": {"secret": SECRET}}, "steps": [{"id": "t", "uses": "test.wait"}]}


async def test_a_signed_webhook_starts_a_run_without_a_user_login(paperchain_api):
    from api_support import TestPlugin

    api = await paperchain_api(paperchain_triggers, TestPlugin())
    await api.request("PUT", "/api/v1/workflows/hooked", json=FLOW)  # the host starts the trigger on save
    body = json.dumps({"order": 42}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Paperchain-Timestamp": stamp, "X-Paperchain-Signature": sign(SECRET, stamp, body),
               "Content-Type": "application/json"}
    for _ in range(100):  # the trigger starts as the workflow.saved event is handled
        reply = await api.request("POST", "/hooks/hooked", token=None, data=body, headers=headers)
        if reply.status != 404:
            break
        await api.kernel.journal.flush()
    assert reply.status == 202, reply
    runs = (await api.request("GET", f"/api/v1/runs?batch={reply.json['batch']}")).json["items"]
    assert len(runs) == 1
    run = await api.wait_run(runs[0]["id"])
    assert run["status"] == "succeeded" and run["source"].startswith("trigger:")
    replay = await api.request("POST", "/hooks/hooked", token=None, data=body, headers=headers)
    assert replay.status == 409
    forged = await api.request("POST", "/hooks/hooked", token=None, data=body,
                               headers={**headers, "X-Paperchain-Signature": sign("wrong", stamp, body)})
    assert forged.status == 401
    spec = (await api.request("GET", "/api/v1/openapi.json", token=None)).json
    assert "security" not in spec["paths"]["/hooks/{workflow}"]["post"]  # public: the signature authenticates
