"""The triggers page: each running trigger of the reader's tenant's workflows with its state, its
last firing (a signed webhook fires one for real) and a schedule's next firing computed on the server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
from croniter import croniter
from triggers_support import steps_plugin, workflow

import paperchain_triggers
from paperchain_sdk.signatures import sign
from paperchain_sdk.testing.web import PASSWORD

SECRET = "s3cret-for-the-test"


@pytest.fixture
async def served(paperchain_site):
    api = await paperchain_site(paperchain_triggers, steps_plugin)
    tokens = {}
    for tenant in ("acme", "globex"):
        tokens[tenant] = await api.user(f"{tenant}-api", "editor", tenant=tenant)
        await api.state.accounts.create_user(f"{tenant}-reader", PASSWORD, "viewer", tenant)
    saves = (("acme", workflow("mornings", {"schedule": {"cron": "0 7 * * *", "timezone": "Europe/Madrid"}})),
             ("acme", workflow("hooked", {"webhook": {"secret": SECRET}})),
             ("globex", workflow("hourly", {"schedule": {"interval": "1h"}})))
    for tenant, flow in saves:
        reply = await api.request("PUT", f"/api/v1/workflows/{flow['name']}", json=flow, token=tokens[tenant])
        assert reply.status in (200, 201), reply
    return api


async def page_with(user, *needles: str) -> str:
    for _ in range(200):  # the host starts a workflow's triggers as its workflow.saved event is handled
        status, _, html = await user.get("/p/triggers")
        assert status == 200
        if all(n in html for n in needles):
            return html
        await asyncio.sleep(0.05)
    raise AssertionError(f"{needles} never appeared in {html}")


async def test_page_shows_state_last_and_next_firing_of_the_tenants_triggers(served):
    from paperchain.web.i18n import (
        Formatter,  # the formatter the pages write dates with
    )

    reader = await served.login("acme-reader")
    html = await page_with(reader, 'data-trigger="acme:mornings:schedule"', 'data-trigger="acme:hooked:webhook"')
    assert "hourly" not in html  # globex's workflow
    assert "0 7 * * *" in html and "Europe/Madrid" in html and "/hooks/acme:hooked" in html
    assert "Counting from" in html and html.count("not yet") == 2  # neither has fired
    # The next firing: 07:00 in Madrid after the moment the schedule started counting.
    saved = next(t for t in paperchain_triggers.base.running_triggers(served.kernel) if t.workflow == "acme:mornings")
    last = dt.datetime.fromisoformat(await saved.store.get(saved._key))
    expected = croniter("0 7 * * *", last.astimezone(saved.zone)).get_next(dt.datetime).astimezone(dt.UTC)
    assert f"<span data-next>{Formatter('en').when(expected.isoformat())}</span>" in html
    assert expected.astimezone(saved.zone).hour == 7

    body = json.dumps({"order": 42}).encode()
    stamp = str(int(time.time()))
    fired = await served.request("POST", "/hooks/acme:hooked", token=None, data=body, headers={
        "X-Paperchain-Timestamp": stamp, "X-Paperchain-Signature": sign(SECRET, stamp, body),
        "Content-Type": "application/json"})
    assert fired.status == 202, fired
    html = await page_with(reader, f'href="/batches/{fired.json["batch"]}"')
    assert "<form" not in html.split("<main", 1)[1].split("</main>")[0]  # read-only: no write control

    other = await served.login("globex-reader")
    theirs = await page_with(other, 'data-trigger="globex:hourly:schedule"')
    assert "mornings" not in theirs and "hooked" not in theirs
    spanish = await served.login("acme-reader", "es")
    _, _, html = await spanish.get("/p/triggers")
    assert "Disparadores" in html and "Próxima ejecución" in html
