"""The web UI over HTTP: sessions, CSRF, roles, errors as pages, security headers, languages."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import sqlalchemy as sa
from yarl import URL

from paperchain.store import tables
from paperchain.web.guard import CSP


async def start_failing_run(site, tmp_path) -> str:
    await site.request("POST", "/api/v1/workflows", json={"name": "fragile", "steps": [
        {"id": "fragile", "uses": "test.fail_until_fixed", "with": {"marker": str(tmp_path / "fixed")}}]})
    run_id = (await site.request("POST", "/api/v1/runs", json={"workflow": "fragile"})).json["runs"][0]
    await site.wait_run(run_id)
    return run_id


async def test_the_root_sends_a_stranger_to_the_login_page_and_back_after(site):
    b = site.browser()
    status, headers, _ = await b.get("/runs?status=failed", follow=False)
    assert status == 303 and headers["Location"] == "/login?next=%2Fruns%3Fstatus%3Dfailed"
    status, _, text = await b.get(headers["Location"])
    assert status == 200 and 'name="next" value="/runs?status=failed"' in text
    status, headers, _ = await b.post("/login", {"username": "vera", "password": "correct horse battery staple 42",
                                                 "next": "/runs?status=failed"})
    assert status == 303 and headers["Location"] == "/runs?status=failed"
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    status, headers, text = await b.get("/runs")
    assert status == 200 and "<h1>Runs</h1>" in text
    assert headers["Content-Security-Policy"] == CSP and "unsafe" not in CSP


async def test_a_wrong_password_is_refused_with_a_readable_message(site):
    b = site.browser()
    status, headers, text = await b.post("/login", {"username": "vera", "password": "nope", "next": "/"})
    assert status == 401 and "Wrong user name or password." in text and "pc_session" not in headers.get("Set-Cookie", "")


async def test_login_only_goes_back_to_a_page_of_this_site(site):
    b = site.browser()
    status, headers, _ = await b.post("/login", {"username": "vera", "password": "correct horse battery staple 42",
                                                 "next": "//evil.example/x"})
    assert status == 303 and headers["Location"] == "/"


async def test_logout_revokes_the_session_on_the_server(site):
    b = await site.browser().login("vera")
    cookie = b.session.cookie_jar.filter_cookies(URL(site.url))["pc_session"].value
    status, headers, _ = await b.post("/logout", {"csrf": await b.csrf()})
    assert status == 303 and headers["Location"] == "/login"
    thief = site.browser()  # the old cookie, replayed, is worth nothing
    thief.session.cookie_jar.update_cookies({"pc_session": cookie})
    status, headers, _ = await thief.get("/runs", follow=False)
    assert status == 303 and "/login" in headers["Location"] and "expired=1" in headers["Location"]


async def test_an_expired_session_asks_to_log_in_again(site):
    b = await site.browser().login("vera")
    from paperchain.web.guard import WEB

    sessions = site.app[WEB].sessions
    for session in sessions.cache.values():
        session.expires = 0
    status, headers, text = await b.get("/runs/abc?x=1")
    assert status == 200 and "Your session has ended" in text and 'value="/runs/abc?x=1"' in text


async def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(site, tmp_path):
    run_id = await start_failing_run(site, tmp_path)
    b = await site.browser().login("eddie")
    status, _, text = await b.post(f"/runs/{run_id}/retry", {})
    assert status == 403 and "security token" in text
    status, _, text = await b.post(f"/runs/{run_id}/retry", {"csrf": "forged"})
    assert status == 403
    token = await b.csrf(f"/runs/{run_id}")
    status, _, text = await b.post(f"/runs/{run_id}/retry", {"csrf": token}, origin="http://evil.example")
    assert status == 403 and "another site" in text
    status, _, text = await b.post(f"/runs/{run_id}/retry", {"csrf": token}, origin=None)
    assert status == 403
    status, headers, _ = await b.post(f"/runs/{run_id}/retry", {"csrf": token})
    assert status == 303 and headers["Location"] == f"/runs/{run_id}"


async def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(site, tmp_path):
    run_id = await start_failing_run(site, tmp_path)
    viewer = await site.browser().login("vera")
    status, _, text = await viewer.get(f"/runs/{run_id}")
    assert status == 200 and "the marker" in text and "/retry" not in text
    status, _, text = await viewer.post(f"/runs/{run_id}/retry", {"csrf": await viewer.csrf()})
    assert status == 403 and "needs the editor role; you are viewer" in text
    editor = await site.browser().login("eddie")
    assert f'action="/runs/{run_id}/retry"' in (await editor.get(f"/runs/{run_id}"))[2]


async def test_the_runs_list_counts_states_filters_and_pages(site, tmp_path):
    run_id = await start_failing_run(site, tmp_path)
    await site.request("POST", "/api/v1/workflows",
                       json={"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    started = (await site.request("POST", "/api/v1/runs", json={"workflow": "quick"})).json["runs"][0]
    await site.wait_run(started)
    b = await site.browser().login("vera")
    _, _, text = await b.get("/runs")
    assert re.search(r'data-state-count="failed">1<', text) and re.search(r'data-state-count="succeeded">1<', text)
    _, _, text = await b.get("/runs?status=failed")
    assert run_id[:12] in text and started[:12] not in text
    _, _, text = await b.get("/runs?workflow=quick")
    assert started[:12] in text and run_id[:12] not in text
    status, _, text = await b.get("/runs?since=yesterday")
    assert status == 400 and "is not a date" in text
    from paperchain.web.routes import runs

    runs.PAGE_SIZE, size = 1, runs.PAGE_SIZE
    try:
        _, _, first = await b.get("/runs")
        link = re.search(r'href="(/runs\?cursor=[^"]+)" rel="next"', first).group(1)
        _, _, second = await b.get(link.replace("&amp;", "&"))
    finally:
        runs.PAGE_SIZE = size
    assert (started[:12] in first) != (started[:12] in second) and (run_id[:12] in second)


async def test_pages_speak_spanish_by_accept_language_or_the_switch(site):
    b = await site.browser("es-ES,es;q=0.9").login("vera")
    _, _, text = await b.get("/runs")
    assert '<html lang="es"' in text and "<h1>Ejecuciones</h1>" in text
    english = await site.browser("en").login("vera")
    await english.post("/preferences", {"lang": "es", "next": "/runs"})
    assert "<h1>Ejecuciones</h1>" in (await english.get("/runs"))[2]


async def test_unknown_pages_and_runs_are_404_pages_and_the_api_keeps_json(site):
    b = await site.browser().login("vera")
    status, headers, text = await b.get("/no/such/page")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and "Not found" in text
    status, _, text = await b.get("/runs/nope")
    assert status == 404 and "There is no run nope" in text
    status, headers, _ = await b.get("/api/v1/nothing")
    assert status == 404 and headers["Content-Type"].startswith("application/json")


async def test_the_account_page_creates_a_key_shown_once_and_revokes_it(site):
    b = await site.browser().login("vera")
    status, _, text = await b.post("/account/keys", {"csrf": await b.csrf(), "name": "scanner", "role": "viewer",
                                                     "scopes": "runs:read"})
    key = re.search(r'<code id="new-key">([^<]+)</code>', text).group(1)
    assert status == 200 and key.startswith("pck_")
    assert (await site.request("GET", "/api/v1/runs", token=key)).status == 200
    key_id = key.split("_")[1]
    status, _, _ = await b.post(f"/account/keys/{key_id}/revoke", {"csrf": await b.csrf()})
    assert status == 303 and (await site.request("GET", "/api/v1/runs", token=key)).status == 401
    assert key not in (await b.get("/account"))[2]


async def test_the_event_websocket_takes_the_session_cookie_only_from_this_origin(site):
    b = await site.browser().login("vera")
    url = site.url.replace("http", "ws") + "/api/v1/events"
    async with b.session.ws_connect(url, headers={"Origin": site.url}) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["runs"]})
        assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "subscribed"
    async with b.session.ws_connect(url, headers={"Origin": "http://evil.example"}) as ws:
        reply = await asyncio.wait_for(ws.receive_json(), 5)
        assert reply["type"] == "error" and "Origin" in reply["message"]
    stranger = aiohttp.ClientSession()
    try:
        async with stranger.ws_connect(url, headers={"Origin": site.url}) as ws:
            await ws.send_json({"type": "subscribe", "topics": ["runs"]})
            assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "error"
    finally:
        await stranger.close()


async def test_home_counts_the_last_day_the_queue_and_the_documents(site, tmp_path):
    await start_failing_run(site, tmp_path)
    b = await site.browser().login("vera")
    status, _, text = await b.get("/")
    assert status == 200 and "<h1>Home</h1>" in text and "the marker" in text  # a recent failure and its reason
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S).group(1))
    assert sum(data["failed"]) == 1 and len(data["x"]) == 24 and data["step_seconds"].count(None) <= 23
    assert re.search(r'id="queue-depth">0<', text)


async def test_a_run_page_says_which_step_waited_on_which_and_the_retry_is_audited(site, tmp_path):
    await site.request("POST", "/api/v1/workflows", json={"name": "chain", "steps": [
        {"id": "quick", "uses": "test.wait", "with": {"seconds": 0}},
        {"id": "slow", "uses": "test.wait", "with": {"seconds": 0.3}},
        {"id": "last", "uses": "test.fail_until_fixed", "needs": ["quick", "slow"],
         "with": {"marker": str(tmp_path / "fixed")}}]})
    run_id = (await site.request("POST", "/api/v1/runs", json={"workflow": "chain"})).json["runs"][0]
    await site.wait_run(run_id)
    b = await site.browser().login("eddie")
    _, _, text = await b.get(f"/runs/{run_id}")
    row = re.search(r'<th scope="row">last</th>.*?</tr>', text, re.S).group(0)
    assert "quick, <strong" in row and ">slow</strong>" in row
    status, _, _ = await b.post(f"/runs/{run_id}/retry", {"csrf": await b.csrf(f"/runs/{run_id}")})
    assert status == 303
    await site.kernel.journal.flush()
    audit = tables.audit
    rows = await site.kernel.sql.read(sa.select(audit.c.actor, audit.c.action, audit.c.target, audit.c.outcome)
                                      .where(audit.c.target == f"run:{run_id}"))
    assert [tuple(r) for r in rows] == [("eddie", "POST /runs/{id}/retry", f"run:{run_id}", "success")]


async def test_repeated_wrong_passwords_lock_the_account_with_a_page_saying_until_when(site):
    site.state.accounts.security.configure(max_failures=3, delay_after=10, lockout_minutes=15)
    b = site.browser("es")
    for _ in range(3):
        status, _, text = await b.post("/login", {"username": "vera", "password": "wrong", "next": "/"})
        assert status == 401 and "Usuario o contraseña incorrectos." in text
    status, headers, text = await b.post("/login", {"username": "vera", "password": "correct horse battery staple 42",
                                                    "next": "/"})
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert "esta cuenta está bloqueada hasta el" in text and "pc_session" not in headers.get("Set-Cookie", "")


async def test_static_files_are_served_with_long_caching_and_only_from_the_static_folder(site):
    b = site.browser()
    status, headers, _ = await b.get("/static/live.js?v=1")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in headers["Cache-Control"] and headers["X-Content-Type-Options"] == "nosniff"
    status, _, _ = await b.get("/static/../guard.py")
    assert status == 404
    status, _, _ = await b.get("/static/%2e%2e/guard.py")
    assert status == 404


async def test_an_htmx_refresh_after_the_session_ended_sends_the_whole_page_to_login(site):
    b = await site.browser().login("vera")
    from paperchain.web.guard import WEB

    for session in site.app[WEB].sessions.cache.values():
        session.revoked = 1.0
    status, headers, _ = await b.get("/runs?status=failed", follow=False, headers={
        "HX-Request": "true", "HX-Current-URL": f"{site.url}/runs?status=failed&workflow=x"})
    assert status == 204 and headers["HX-Redirect"] == "/login?next=%2Fruns%3Fstatus%3Dfailed%26workflow%3Dx&expired=1"
    status, headers, _ = await b.get("/runs", follow=False, headers={
        "HX-Request": "true", "HX-Current-URL": "http://evil.example/runs"})
    assert headers["HX-Redirect"] == "/login?next=%2F&expired=1"


async def test_changing_the_password_ends_the_sessions_opened_before(site):
    b = await site.browser().login("vera")
    assert (await b.get("/runs", follow=False))[0] == 200
    await site.state.accounts.update_user("vera", password="a brand new long passphrase 7")
    status, headers, _ = await b.get("/runs", follow=False)
    assert status == 303 and "/login" in headers["Location"]
    again = await site.browser().login("vera", "a brand new long passphrase 7")
    assert (await again.get("/runs", follow=False))[0] == 200
