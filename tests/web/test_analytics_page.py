"""The analytics page without a browser: who may see it, whose figures it shows, a bad period, and
the figures it shares with the API (kept until a run lands)."""

from __future__ import annotations

import asyncio
import functools

from web.conftest import PASSWORD

from paperchain import analytics


async def _failed_run(site, tmp_path, token) -> dict:
    flow = {"name": "acme-only-flow", "steps": [{"id": "f", "uses": "test.fail_until_fixed",
                                                 "with": {"marker": str(tmp_path / "missing")}}]}
    assert (await site.request("POST", "/api/v1/workflows", json=flow, token=token)).status == 201
    started = await site.request("POST", "/api/v1/runs", json={"workflow": "acme-only-flow"}, token=token)
    return await site.wait_run(started.json["runs"][0])


async def test_a_tenant_sees_its_own_figures_and_another_tenant_none_of_them(site, tmp_path, database_url):
    acme = await site.user("alice", "editor", tenant="acme", password=PASSWORD)
    run = await _failed_run(site, tmp_path, acme)
    await site.state.accounts.create_user("gina", PASSWORD, "viewer", "globex")
    own = await site.browser().login("alice")
    status, _, text = await own.get("/analytics")
    assert status == 200 and "acme-only-flow" in text and f"/runs/{run['id']}" in text
    assert "/runs?status=failed&amp;workflow=acme-only-flow&amp;since=" in text
    other = await site.browser("es").login("gina")
    status, _, text = await other.get("/analytics")
    assert status == 200 and "Analítica" in text and "Nada en este periodo." in text
    assert "acme-only-flow" not in text and run["id"] not in text


async def test_a_bad_period_is_a_page_that_says_what_to_choose(site):
    browser = await site.browser("es").login("vera")
    for days in ("0", "400", "abc"):
        status, _, text = await browser.get(f"/analytics?days={days}")
        assert status == 400 and "El periodo debe ser un número entero de días entre 1 y 365." in text, days
    status, headers, _ = await site.browser().get("/analytics", follow=False)
    assert status in (302, 303) and "/login" in headers["Location"]


async def test_the_page_answers_from_the_api_s_kept_figures_and_shows_a_run_that_lands_after(
        site, tmp_path, monkeypatch):
    acme = await site.user("alice", "editor", tenant="acme", password=PASSWORD)
    first = await _failed_run(site, tmp_path, acme)
    browser = await site.browser().login("alice")
    await asyncio.sleep(0.6)  # past the kept figures' settling time after the run's events
    calls, failure_reasons = [], analytics.failure_reasons

    @functools.wraps(failure_reasons)
    async def counted(*args):
        calls.append(args[1])
        return await failure_reasons(*args)

    monkeypatch.setattr(analytics, "failure_reasons", counted)
    body = (await site.request("GET", "/api/v1/analytics", token=acme)).json
    assert body["failures"][0]["latest_run"] == first["id"]
    status, _, text = await browser.get("/analytics")
    assert status == 200 and f"/runs/{first['id']}" in text and calls == ["acme"]  # the API's answer, kept

    started = await site.request("POST", "/api/v1/runs", json={"workflow": "acme-only-flow"}, token=acme)
    second = await site.wait_run(started.json["runs"][0])
    status, _, text = await browser.get("/analytics")
    assert status == 200 and f"/runs/{second['id']}" in text and calls == ["acme", "acme"]
