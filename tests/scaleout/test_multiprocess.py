"""Scale-out on one machine, processes standing in for machines (docs/deployment.md): two
``paperchain serve`` and two ``paperchain worker`` processes, each with a data directory of its own,
sharing only PostgreSQL, Redis and an S3 bucket (moto on loopback). A batch of 200 documents runs a
3-step workflow whose last step posts a webhook to a receiver here; mid-batch one worker is killed
(SIGKILL) and replaced, and the server that started the batch is killed (SIGKILL) and restarted on
its data directory. Every run succeeds, no attempt's result is written twice, every side effect
lands once per idempotency key, and a WebSocket client of the other server sees every run finish.

(A message delivered twice, as Redis does after its visibility timeout, is dropped by the fence:
tests/engine/test_celery_executor.py::test_a_redelivered_message_is_dropped_by_the_fence.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import time

import aiohttp
import pytest
import sqlalchemy as sa
from cluster.cluster_support import PASSWORD, free_port
from scaleout.scaleout_support import AttemptSampler, LiveClient, Receiver, Serve, Sql, Worker, eventually

from paperchain.store.tables import runs, step_attempts

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DOCUMENTS = 200
STEPS = ("text", "stats", "post")
LEASE = 3  # seconds a worker's claim lasts unrenewed: a killed worker's steps go again this soon
CONCURRENCY = 4  # steps at once per worker


def _config(folder, receiver_url: str) -> str:
    """plugins.toml for every process: the plugins, the webhook allow-list (loopback), room for one
    client's 200 uploads. Where things are (database, broker, blobs) comes from the environment."""
    path = folder / "plugins.toml"
    path.write_text(f"""
[plugins]
load = ["builtins", "text", "notify"]

[api]
rate = 1000.0
burst = 2000

[components."notify.webhook"]
allow_hosts = ["127.0.0.1"]
url = "{receiver_url}"
""")
    return str(path)


FLOW = {"name": "scaleout", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "stats", "uses": "text.stats", "needs": ["text"]},
    {"id": "post", "uses": "notify.webhook", "needs": ["stats"],
     "with": {"body": "{{ document.name }} done", "backoff": 0.2}},
]}


@pytest.fixture
async def deployment(tmp_path, paperchain_postgres, kernel_template, redis_url, s3_blob_url):
    """The shared services, the receiver, the processes' environment, and ``started`` (every process
    made, stopped with its whole process group at the end)."""
    url = paperchain_postgres.create_database(template=kernel_template)
    receiver = await Receiver().start()
    env = {**os.environ, "PAPERCHAIN_CONFIG": _config(tmp_path, receiver.url), "PAPERCHAIN_DATABASE_URL": url,
           "PAPERCHAIN_EXECUTOR": "celery", "PAPERCHAIN_BROKER_URL": redis_url, "PAPERCHAIN_BLOB_URL": s3_blob_url,
           "PAPERCHAIN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(), "PAPERCHAIN_ADMIN_PASSWORD": PASSWORD}
    for name in ("PAPERCHAIN_DATA_DIR", "PAPERCHAIN_LOAD_PLUGINS", "PAPERCHAIN_DISABLE_PLUGINS"):
        env.pop(name, None)
    sql = Sql(url)
    session = aiohttp.ClientSession()
    started: list = []
    try:
        yield {"env": env, "sql": sql, "session": session, "receiver": receiver, "started": started,
               "folder": tmp_path}
    finally:
        for process in started:
            process.stop()
        for process in started:  # the logs stay with pytest's tmp_path; the data directories go
            shutil.rmtree(process.folder / "data", ignore_errors=True)
        await session.close()
        await receiver.close()
        await sql.close()


async def _login(session, server) -> str:
    async with session.post(server.url + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]


async def _upload(session, server, token, count: int) -> list[str]:
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> str:
        async with limit, session.post(f"{server.url}/api/v1/documents?name=note-{i:03d}.txt",
                                       data=f"Note {i}. It has a few words, {i * 7} of them numbers.".encode(),
                                       headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/octet-stream"}) as reply:
            assert reply.status == 201, await reply.text()
            return (await reply.json())["id"]

    return await asyncio.gather(*(one(i) for i in range(count)))


async def _statuses(sql, batch: str) -> dict[str, str]:
    rows = await sql.read(sa.select(runs.c.id, runs.c.status).where(runs.c.batch_id == batch, runs.c.kind != "batch"))
    return {row.id: row.status for row in rows}


async def test_a_batch_survives_a_killed_worker_and_a_killed_server(deployment):
    env, sql, session, receiver, started = (deployment[k] for k in ("env", "sql", "session", "receiver", "started"))
    folder = deployment["folder"]
    clock = time.monotonic()

    def serve(name: str, port: int) -> Serve:
        process = Serve(folder / name, env, port).start()
        started.append(process)
        return process

    def worker(name: str) -> Worker:
        process = Worker(folder / name, env, concurrency=CONCURRENCY, lease=LEASE).start()
        started.append(process)
        return process

    a = serve("api-a", free_port())
    await a.ready(session)  # the first migrates and makes the admin; the rest start once it is ready
    b, doomed, steady = serve("api-b", free_port()), worker("worker-1"), worker("worker-2")
    await asyncio.gather(b.ready(session), doomed.joined(sql), steady.joined(sql))
    token = await _login(session, a)
    live = LiveClient(session, b.url, token).start()
    sampler = AttemptSampler(sql).start()
    try:
        await asyncio.wait_for(live.subscribed.wait(), 30)
        async with session.post(a.url + "/api/v1/workflows", json=FLOW,
                                headers={"Authorization": f"Bearer {token}"}) as reply:
            assert reply.status in (200, 201), await reply.text()
        documents = await _upload(session, a, token, DOCUMENTS)
        async with session.post(a.url + "/api/v1/runs", json={"workflow": "scaleout", "documents": documents},
                                headers={"Authorization": f"Bearer {token}"}) as reply:
            assert reply.status == 202, await reply.text()
            started_batch = await reply.json()
        batch, run_ids = started_batch["batch"], set(started_batch["runs"])
        assert len(run_ids) == DOCUMENTS
        ready_at = time.monotonic()

        # A worker dies while it holds claims: its attempts are re-queued when their leases expire.
        doomed_id = f"worker:%:{doomed.pid}:%"

        async def doomed_holds() -> int:
            return await sql.scalar(sa.select(sa.func.count()).select_from(step_attempts).where(
                step_attempts.c.state == "running", step_attempts.c.worker.like(doomed_id)))

        await eventually(doomed_holds, timeout=60, every=0.02)
        doomed.kill()
        orphaned = {row.id for row in await sql.read(sa.select(step_attempts.c.id).where(
            step_attempts.c.state == "running", step_attempts.c.worker.like(doomed_id)))}
        replacement = worker("worker-3")

        # The batch's server dies a while later, and comes back on its data directory.
        async def some_done() -> bool:
            return sum(s == "succeeded" for s in (await _statuses(sql, batch)).values()) >= DOCUMENTS // 3

        await eventually(some_done, timeout=120, every=0.1)
        done_at_server_kill = sum(s == "succeeded" for s in (await _statuses(sql, batch)).values())
        a.kill()
        a.start()
        await asyncio.gather(a.ready(session), replacement.joined(sql))

        async def all_finished() -> dict[str, str]:
            found = await _statuses(sql, batch)
            return found if all(s in ("succeeded", "failed", "cancelled") for s in found.values()) else {}

        statuses = await eventually(all_finished, timeout=240, every=0.25)
        finished_at = time.monotonic()
        with contextlib.suppress(AssertionError):  # what never came live is judged below
            await eventually(lambda: live.succeeded_runs() >= run_ids, timeout=15, every=0.1)
        replayed = await live.replay(run_ids)
        await eventually(lambda: len(receiver.deliveries) >= DOCUMENTS, timeout=30, every=0.1)
        rows = await sampler.sample()
    finally:
        await sampler.close()
        await live.close()

    # The kills fell mid-batch, as meant.
    assert orphaned and done_at_server_kill < DOCUMENTS

    # Every run succeeded.
    assert statuses == dict.fromkeys(run_ids, "succeeded")

    # One attempt per step of each run (nothing failed and was tried again), each finished once.
    assert len(rows) == DOCUMENTS * len(STEPS) and {r.state for r in rows} == {"succeeded"}
    assert {r.id.rsplit("/", 1)[0] for r in rows} == {f"{run}/{step}" for run in run_ids for step in STEPS}
    for attempt_id, seen in sampler.history.items():
        fences = [fence for _, fence, _, _, _ in seen]
        assert fences == sorted(fences), (attempt_id, seen)  # fences only grow
        finished = [s for s in seen if s[0] == "succeeded"]
        assert len({(s[1], s[2], s[3], s[4]) for s in finished}) == 1, (attempt_id, seen)  # one result, never rewritten
        if seen[-1][1] > 1:  # claimed again: only after the killed worker's lease on it lapsed
            assert any(state == "running" and worker and f":{doomed.pid}:" in worker
                       for state, _, worker, _, _ in seen), (attempt_id, seen)
    claims = sum(r.fence for r in rows)
    reclaimed = {r.id for r in rows if r.fence > 1}
    assert orphaned <= reclaimed  # what it held when it died was claimed again, and finished by another
    assert not any(f":{doomed.pid}:" in r.worker for r in rows if r.id in orphaned)

    # The workers' own accounts agree: each attempt's result was recorded once across every log.
    logged = re.findall(r"step attempt (\S+): succeeded in", "".join(w.output() for w in (doomed, steady, replacement)))
    assert len(logged) == len(set(logged))
    # (the killed worker may have died between recording a result and logging it)
    assert {r.id for r in rows if f":{doomed.pid}:" not in r.worker} <= set(logged)

    # Every side effect landed, under its step's idempotency key, once per key; a redelivery (an
    # attempt cut short between its POST and its outcome) carries the same key.
    assert set(receiver.deliveries) == {f"{run}:post" for run in run_ids} and receiver.unkeyed == 0

    # The WebSocket client of the server that was never killed saw every run finish, each event once
    # and in order, live: even an event the killed server committed just before it died was announced
    # by its commit (the events trigger's pg_notify, revision 0003). A since-replay on B agrees.
    assert set(replayed) == run_ids
    missed = {e["subject"]: e for e in replayed.values() if e["subject"] not in live.succeeded_runs()}
    assert not missed, sorted(missed)
    assert live.repeats == 0
    seqs = [int(e["sequence"]) for e in live.events]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))

    print(f"\nscale-out: {DOCUMENTS} runs x {len(STEPS)} steps in {finished_at - ready_at:.1f} s after submit "
          f"({time.monotonic() - clock:.1f} s in all); worker killed holding {len(orphaned)} claim(s), server killed "
          f"at {done_at_server_kill} runs done; {claims} claims for {len(rows)} attempts ({len(reclaimed)} claimed "
          f"again); webhook deliveries: {receiver.raw} raw, {len(receiver.deliveries)} distinct keys; "
          f"WebSocket on B: {len(live.events)} events over {live.connections} connection(s), run.succeeded of "
          f"{len(run_ids) - len(missed)} runs live and {len(missed)} only by since-replay")
