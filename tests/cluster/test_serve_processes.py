"""Two real ``paperchain serve`` processes on one PostgreSQL database, each with its own data
directory: a token from one works on the other, a run started on one is seen live by a WebSocket
client of the other, and when the leader is killed (SIGKILL) the other takes the leader lease."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time

import aiohttp
import pytest
import sqlalchemy as sa
from cluster.cluster_support import PASSWORD, Serve, eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOW = {"name": "read", "steps": [{"id": "text", "uses": "document.text"}]}
TICKING = {"name": "ticking", "on": {"schedule": {"interval": "1h"}}, "steps": [{"id": "text", "uses": "document.text"}]}


@pytest.fixture
async def two_serves(tmp_path, paperchain_postgres, kernel_template):
    url = paperchain_postgres.create_database(template=kernel_template)
    key = base64.b64encode(os.urandom(32)).decode()
    made: list[Serve] = []
    session = aiohttp.ClientSession()
    try:
        made.append(Serve(tmp_path / "a", url, key))
        await made[0].ready(session)  # the first creates the admin; the second finds it
        made.append(Serve(tmp_path / "b", url, key))
        await made[1].ready(session)
        yield made[0], made[1], session, url
    finally:
        await session.close()
        for serve in made:
            serve.stop()


async def _call(session, serve, method, path, token, **kwargs):
    async with session.request(method, serve.url + path, headers={"Authorization": f"Bearer {token}"},
                               **kwargs) as reply:
        return reply.status, await reply.json()


async def _leader(url: str) -> str | None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT holder, until > EXTRACT(EPOCH FROM clock_timestamp()) AS live "
                                              "FROM leases WHERE name = 'triggers'"))).first()
        return row.holder if row is not None and row.live else None
    finally:
        await engine.dispose()


async def test_two_serve_processes_behave_as_one(two_serves):
    a, b, session, url = two_serves
    async with session.post(a.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}) as reply:
        assert reply.status == 200
        token = (await reply.json())["access_token"]
    assert (await _call(session, b, "GET", "/api/v1/auth/me", token))[0] == 200  # one signing key

    async with session.ws_connect(b.url.replace("http", "ws") + "/api/v1/events",
                                  headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["runs"]})
        assert json.loads((await ws.receive()).data)["type"] == "subscribed"
        assert (await _call(session, a, "POST", "/api/v1/workflows", token, json=FLOW))[0] in (200, 201)
        async with session.post(a.url + "/api/v1/documents?name=note.txt", data=b"hello from a",
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/octet-stream"}) as reply:
            assert reply.status == 201, await reply.text()
            document = (await reply.json())["id"]
        status, started = await _call(session, a, "POST", "/api/v1/runs", token,
                                      json={"workflow": "read", "documents": [document]})
        assert status == 202, started
        run_id = started["runs"][0]
        seen = []
        async with asyncio.timeout(20):
            while not seen or seen[-1] != "run.succeeded":
                message = json.loads((await ws.receive()).data)
                if message.get("specversion") and message["data"].get("run", message["subject"]) == run_id:
                    seen.append(message["type"].removeprefix("io.paperchain."))
    assert seen == ["run.started", "step.started", "step.succeeded", "run.succeeded"]

    # Exactly one leader; SIGKILL it and the other takes the lease within seconds.
    assert (await _call(session, a, "POST", "/api/v1/workflows", token, json=TICKING))[0] in (200, 201)
    holder = await eventually(lambda: _leader(url), timeout=15)
    leader, other = (a, b) if holder.endswith(_digest(a)) else (b, a)
    leader.stop(signal.SIGKILL)
    killed = time.monotonic()

    async def taken_over():
        now = await _leader(url)
        return now is not None and now != holder

    await eventually(taken_over, timeout=20, every=0.2)
    assert time.monotonic() - killed < 15  # a 6 s lease renewed every 2 s
    assert (await _call(session, other, "GET", "/api/v1/auth/me", token))[0] == 200


def _digest(serve) -> str:
    import hashlib

    data_dir = os.path.join(os.path.dirname(serve.log.name), "data")
    return hashlib.sha256(str(os.path.realpath(data_dir)).encode()).hexdigest()[:12]
