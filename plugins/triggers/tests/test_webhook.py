"""The webhook route on a real aiohttp server on loopback, with a real kernel behind it."""

from __future__ import annotations

import json
import time

import aiohttp
from aiohttp import web
from triggers_support import Recorder, batches, settle, workflow

import paperchain_triggers
from paperchain.trigger_host import TriggerHost
from paperchain_sdk.signatures import sign
from paperchain_sdk.web import KERNEL_KEY

SECRET = "s3cr3t-for-tests"


async def _serve(kernel):
    app = web.Application()
    app[KERNEL_KEY] = kernel  # what the API server sets: the handler finds the kernel with kernel_of
    app.add_routes(paperchain_triggers.paperchain_routes(kernel))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def _signed(body: bytes, *, secret=SECRET, at=None):
    stamp = str(int(at if at is not None else time.time()))
    return {"X-Paperchain-Timestamp": stamp, "X-Paperchain-Signature": sign(secret, stamp, body),
            "Content-Type": "application/json"}


def test_signed_requests_start_runs_and_bad_ones_are_refused(kernel, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET_FOR_TEST", SECRET)
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        await k.workflows.save(workflow("hooked", {"webhook": {"secret_env": "HOOK_SECRET_FOR_TEST"}}))
        await k.workflows.save(workflow("unsigned", {"webhook": {}}))
        host = TriggerHost(k)
        await host.start()
        assert "unsigned webhooks are refused" in host.failures[("unsigned", "webhook")]
        runner, base = await _serve(k)
        try:
            async with aiohttp.ClientSession() as http:
                body = json.dumps({"invoice": 42}).encode()
                headers = _signed(body)
                async with http.post(f"{base}/hooks/hooked", data=body, headers=headers) as resp:
                    assert resp.status == 202
                    batch = (await resp.json())["batch"]
                started = await seen.wait(lambda e: e.type == "run.succeeded" and e.data["batch"] == batch)
                assert started
                # The same request again is a replay.
                async with http.post(f"{base}/hooks/hooked", data=body, headers=headers) as resp:
                    assert resp.status == 409 and "replay" in (await resp.json())["error"]["message"]
                # A wrong secret, a tampered body, an old timestamp, no headers.
                bad = _signed(body, secret="wrong")
                async with http.post(f"{base}/hooks/hooked", data=body, headers=bad) as resp:
                    assert resp.status == 401
                async with http.post(f"{base}/hooks/hooked", data=b'{"invoice": 43}', headers=_signed(body)) as resp:
                    assert resp.status == 401 and "does not match" in (await resp.json())["error"]["message"]
                old = _signed(body, at=time.time() - 301)
                async with http.post(f"{base}/hooks/hooked", data=body, headers=old) as resp:
                    assert resp.status == 401 and "window" in (await resp.json())["error"]["message"]
                async with http.post(f"{base}/hooks/hooked", data=body) as resp:
                    assert resp.status == 401
                # Not an object; unknown workflow; a workflow whose trigger did not start.
                listing = b"[1, 2]"
                async with http.post(f"{base}/hooks/hooked", data=listing, headers=_signed(listing)) as resp:
                    assert resp.status == 400
                async with http.post(f"{base}/hooks/nobody", data=body, headers=_signed(body)) as resp:
                    assert resp.status == 404
                async with http.post(f"{base}/hooks/unsigned", data=body, headers=_signed(body)) as resp:
                    assert resp.status == 404
        finally:
            await runner.cleanup()
            await settle(k)
            await host.stop()
        created = seen.of("batch.created")
        assert len(created) == 1 and created[0].data["source"] == "trigger:webhook"
        assert [b["inputs"] for b in await batches(k)] == [{"invoice": 42}]

    harness.call(scenario())


def test_replays_are_remembered_across_a_restart(kernel):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        await k.workflows.save(workflow("hooked", {"webhook": {"secret": SECRET}}))
        body = b'{"n": 1}'
        headers = _signed(body)
        statuses = []
        for _ in range(2):  # two "server lives"
            host = TriggerHost(k)
            await host.start()
            runner, base = await _serve(k)
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/hooks/hooked", data=body, headers=headers) as resp:
                    statuses.append(resp.status)
            await runner.cleanup()
            await settle(k)
            await host.stop()
        assert statuses == [202, 409]

    harness.call(scenario())


def test_route_is_public_and_documented():
    from paperchain_sdk.web import endpoint_doc
    from paperchain_triggers.routes import routes

    (route,) = routes
    doc = endpoint_doc(route.handler)
    assert route.method == "POST" and route.path == "/hooks/{workflow}"
    assert doc.public and doc.status == 202
