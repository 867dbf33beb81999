"""The runs list's search box: the start of a run, batch or document id in any case, or a workflow's
name; what a person types is matched as text, never as a LIKE wildcard."""

from __future__ import annotations

from urllib.parse import urlencode

QUICK = {"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]}


async def test_the_runs_search_matches_an_ids_start_in_any_case_and_takes_wildcards_literally(site, database_url):
    await site.request("POST", "/api/v1/workflows", json=QUICK)
    run = (await site.request("POST", "/api/v1/runs", json={"workflow": "quick"})).json["runs"][0]
    await site.wait_run(run)
    b = await site.browser().login("vera")
    shown = run[:12]
    for q, found in ((run[:10], True), (run[:10].upper(), True), ("run", True), ("quick", True),
                     ("ru_", False), ("%", False), ("run%", False), ("_", False), ("\\", False), ("quic", False)):
        status, _, text = await b.get("/runs?" + urlencode({"q": q}))
        assert status == 200, (q, text)
        assert (shown in text) == found, q


async def test_a_cursor_holding_numbers_is_refused_clearly(site, database_url):
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode().rstrip("=")
    reply = await site.request("GET", f"/api/v1/runs?cursor={forged}")
    assert reply.status == 400 and "cursor" in reply.json["error"]["message"], reply.json
    b = await site.browser().login("vera")
    status, _, text = await b.get(f"/runs?cursor={forged}")
    assert status == 400 and "cursor" in text
