"""Serving details: CORS, headers, the first admin, `paperchain serve` and `users create` for real."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from kernel_support import run_cli


async def test_cors_is_off_by_default_and_configurable(api, paperchain_api):
    from api_support import TestPlugin

    plain = await api.request("GET", "/api/v1/documents", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers
    preflight = await api.request("OPTIONS", "/api/v1/documents", token=None, headers={"Origin": "https://app.example"})
    assert preflight.status == 405 and "Access-Control-Allow-Origin" not in preflight.headers
    open_api = await paperchain_api(TestPlugin(), api={"cors_origins": ["https://app.example"]})
    allowed = await open_api.request("OPTIONS", "/api/v1/documents", token=None,
                                     headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert allowed.status == 204 and allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = await open_api.request("GET", "/api/v1/documents", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_security_headers(api):
    reply = await api.request("GET", "/api/v1/documents")
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    docs = await api.request("GET", "/docs", token=None)
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["Referrer-Policy"] == "no-referrer"  # the HTML-only headers, on the HTML page
    assert docs.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert docs.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    missing = await api.request("GET", "/no/such/page")  # the catch-all route answers in the same shape
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    assert missing.headers["X-Frame-Options"] == "DENY"
    wrong_method = await api.request("PUT", "/health")
    assert wrong_method.status == 405 and "GET" in wrong_method.headers["Allow"]
    for sneaky in ("/docs/static/%2e%2e/%2e%2e/guard.py", "/docs/swagger/..%2F..%2F__init__.py"):
        outside = await api.request("GET", sneaky, token=None)  # the docs' files, and nothing beside them
        assert outside.status == 404, sneaky


async def test_first_admin_only_from_the_environment(api):
    accounts = api.state.accounts
    assert await accounts.ensure_admin_from_env({"PAPERCHAIN_ADMIN_PASSWORD": "x" * 12}) is None  # users exist
    accounts.users.clear()
    assert await accounts.ensure_admin_from_env({}) is None  # no password: no user, never a default one
    assert await accounts.ensure_admin_from_env({"PAPERCHAIN_ADMIN_PASSWORD": "long enough pw",
                                                 "PAPERCHAIN_ADMIN_USER": "root"}) == "root"
    assert accounts.users["root"]["role"] == "admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_paperchain_serve_and_users_create(tmp_path):
    (tmp_path / "plugins.toml").write_text('[paperchain]\ndata_dir = "data"\n')
    short = run_cli("users", "create", "alice", "--role", "admin", cwd=tmp_path, env={"PAPERCHAIN_NEW_PASSWORD": "short"})
    assert short.returncode != 0 and "at least 12 characters" in short.stdout + short.stderr
    made = run_cli("users", "create", "alice", "--role", "admin", cwd=tmp_path,
                   env={"PAPERCHAIN_NEW_PASSWORD": "alice-password-1"})
    assert made.returncode == 0, made.stderr
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PAPERCHAIN_CONFIG"}
    server = subprocess.Popen([sys.executable, "-m", "paperchain", "serve", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        request = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
                                         data=json.dumps({"username": "alice", "password": "alice-password-1"}).encode(),
                                         headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(request, timeout=5))["access_token"]
        me = urllib.request.Request(base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert json.load(urllib.request.urlopen(me, timeout=5))["role"] == "admin"
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=20)
    assert server.returncode in (0, -signal.SIGINT, 130), err.decode()[-2000:]
    assert b"Traceback" not in err


async def test_docs_files_never_leave_their_folder(tmp_path):
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from paperchain.api.routes.system import static_files

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.js").write_text("ok")
    (tmp_path / "secret.txt").write_text("no")
    serve = static_files(tmp_path / "docs")

    def asking(path):
        request = make_mocked_request("GET", "/docs/static/x")
        request._match_info = {"path": path}
        return request

    assert isinstance(await serve(asking("page.js")), web.FileResponse)
    for sneaky in ("../secret.txt", "../../etc/passwd", "/etc/passwd", "", "."):
        with pytest.raises(web.HTTPNotFound):
            await serve(asking(sneaky))


# -- numbers a database cannot hold: a 400 naming the field, never a 500 --------------------------

BIG = 99999999999999999999  # past 64-bit integers


@pytest.mark.parametrize("query", [f"after={BIG}", f"after=-{BIG}", "after=%C2%B2", "limit=1e3"])
async def test_audit_query_numbers_out_of_range_answer_400(api, query):
    reply = await api.request("GET", f"/api/v1/audit?{query}")
    assert reply.status == 400, reply
    assert "query parameter" in reply.json["error"]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "k", "expires_days": BIG}, "body.expires_days"),
    ('{"name": "k", "expires_days": NaN}', "body.expires_days"),
])
async def test_json_numbers_past_64_bits_or_not_finite_answer_400(api, body, field):
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
    reply = await api.request("POST", "/api/v1/keys", **kwargs)
    assert reply.status == 400, reply
    assert field in reply.json["error"]["message"]


# -- bodies that never finish: a client that leaves (499), a client that goes silent (408) ---------


async def _send_partial_upload(api, sent: int, declared: int = 100_000):
    """Open a raw connection and send an upload's headers and ``sent`` of its ``declared`` bytes."""
    import asyncio

    port = int(api.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"POST /api/v1/documents?name=a.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {api.token}\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {declared}\r\n\r\n").encode() + b"x" * sent)
    await writer.drain()
    return reader, writer


def _spooled(api) -> list:
    from pathlib import Path

    return list(Path(api.kernel.blobs.spool).iterdir())


async def test_a_client_leaving_mid_body_is_a_499_not_a_server_error(api, caplog):
    import asyncio

    reader, writer = await _send_partial_upload(api, sent=20_000)
    for _ in range(100):  # the server has the first bytes once its temp file holds them
        if any(f.stat().st_size for f in _spooled(api)):
            break
        await asyncio.sleep(0.02)
    writer.close()
    await writer.wait_closed()
    for _ in range(200):
        entries = (await api.request("GET", "/api/v1/audit?action=POST%20/api/v1/documents")).json["items"]
        if entries:
            break
        await asyncio.sleep(0.02)
    assert [(e["status"], e["outcome"]) for e in entries] == [(499, "abandoned")]
    metrics = (await api.request("GET", "/metrics")).body.decode()
    assert 'route="/api/v1/documents",status="499"' in metrics
    assert 'status="500"' not in metrics
    assert "unexpected error" not in caplog.text
    assert _spooled(api) == []


async def test_a_body_that_stops_arriving_answers_408_and_leaves_no_temp_file(paperchain_api):
    import asyncio

    from api_support import TestPlugin

    api = await paperchain_api(TestPlugin(), api={"body_timeout": 0.3})
    reader, writer = await _send_partial_upload(api, sent=10)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)  # a bound for a broken server only
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b"Connection: close" in head
    finally:
        writer.close()
    assert _spooled(api) == []
    entries = (await api.request("GET", "/api/v1/audit?action=POST%20/api/v1/documents")).json["items"]
    assert [(e["status"], e["outcome"]) for e in entries] == [(408, "abandoned")]


@pytest.mark.parametrize("last", ["\u00b2", str(BIG)])
async def test_a_last_event_id_that_is_no_number_answers_400(api, last):
    reply = await api.request("GET", "/api/v1/events/stream", headers={"Last-Event-ID": last})
    assert reply.status == 400, reply
    assert "Last-Event-ID" in reply.json["error"]["message"]


async def test_a_path_with_a_newline_gets_the_json_404(api):
    # The catch-all route must match every character, "\n" too, or aiohttp answers in plain text.
    reply = await api.request("GET", "/api/v1/no-such%0Athing")
    assert reply.status == 404 and reply.json["error"]["code"] == "not_found", reply


def _cursor(values) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("values", [[BIG, "x"], [{"a": 1}, [1]], ["\ud800", "x"]])
@pytest.mark.parametrize("path", ["/api/v1/documents", "/api/v1/runs"])
async def test_a_forged_cursor_answers_400(api, path, values):
    reply = await api.request("GET", f"{path}?cursor={_cursor(values)}")
    assert reply.status == 400, reply
    assert "cursor" in reply.json["error"]["message"]
