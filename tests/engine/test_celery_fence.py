"""The fenced lease on step_attempts, statement by statement (no broker, no worker), on both databases:
a claim is taken once, a stale holder can neither renew nor finish once the attempt was reaped, and the
reaper re-sends expired and unclaimed attempts exactly once per round."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from paperchain.engine.celery.attempts import Attempts
from paperchain.engine.celery.reaper import Reaper
from paperchain.store import migrations
from paperchain.store.database import Database
from paperchain.store.sql import SqlHandle
from paperchain.store.tables import step_attempts


@pytest.fixture
async def attempts(database_url):
    database = await Database.open(database_url)
    await migrations.upgrade(database)
    yield Attempts(SqlHandle(database))
    await database.close()


def _row(attempt_id="run_1/a/1"):
    run_id, step_id, number = attempt_id.split("/")
    return {"id": attempt_id, "run_id": run_id, "step_id": step_id, "attempt": int(number), "tenant": "",
            "component": "test.echo", "method": "run", "queue": "test", "payload": "{}", "timeout": None}


async def _expire(attempts, attempt_id):
    await attempts.sql.write(sa.update(step_attempts).where(step_attempts.c.id == attempt_id)
                             .values(lease_until=time.time() - 1))


async def test_a_claim_is_taken_once_and_a_stale_holder_is_refused_after_a_reap(attempts):
    row, created = await attempts.enqueue(_row(), resend_after=60)
    assert created and (row.state, row.fence, row.sends) == ("queued", 0, 1)
    assert (await attempts.enqueue(_row(), resend_after=60))[1] is False  # submitted again: kept as it is
    assert (await attempts.claim(row.id, "worker-a", lease=30)).fence == 1
    assert await attempts.claim(row.id, "worker-b", lease=30) is None  # a duplicate message: dropped
    assert await attempts.renew(row.id, 1, lease=30)

    await _expire(attempts, row.id)  # worker-a stopped renewing (killed, paused, cut off)
    sent = []

    async def send(attempt_id, queue, timeout):
        sent.append((attempt_id, queue))

    reaper = Reaper(attempts, send, every=1, resend_after=60)
    assert await reaper.reap() == [row.id] and sent == [(row.id, "test")]
    assert await reaper.reap() == []  # not due again

    assert (await attempts.claim(row.id, "worker-b", lease=30)).fence == 2
    assert not await attempts.renew(row.id, 1, lease=30)  # worker-a comes back: its lease is gone
    assert not await attempts.finish(row.id, 1, result={"kind": "outputs", "outputs": {"by": "a"}})
    assert await attempts.finish(row.id, 2, result={"kind": "outputs", "outputs": {"by": "b"}})
    assert not await attempts.finish(row.id, 2, error="late")  # finished once
    final = await attempts.get(row.id)
    assert (final.state, final.fence, final.worker, final.sends) == ("succeeded", 2, "worker-b", 2)
    assert '"by": "b"' in final.result
    assert [r.id for r in await attempts.finished([row.id, "run_1/other/1"])] == [row.id]


async def test_a_stale_holder_is_refused_even_before_anyone_claims_again(attempts):
    row, _ = await attempts.enqueue(_row(), resend_after=60)
    assert (await attempts.claim(row.id, "worker-a", lease=30)).fence == 1
    await _expire(attempts, row.id)
    assert await Reaper(attempts, _ignore, every=1, resend_after=60).reap() == [row.id]
    assert not await attempts.finish(row.id, 1, result={"kind": "outputs", "outputs": {}})  # queued again
    assert (await attempts.get(row.id)).state == "queued"


async def test_an_unclaimed_attempt_is_sent_again_and_a_cancelled_one_stops_its_holder(attempts):
    lost, _ = await attempts.enqueue(_row("run_1/lost/1"), resend_after=60)
    await _expire(attempts, lost.id)  # nobody claimed it in time (the message was lost)
    assert await Reaper(attempts, _ignore, every=1, resend_after=60).reap() == [lost.id]
    again = await attempts.get(lost.id)
    assert (again.state, again.sends) == ("queued", 2) and again.lease_until > time.time() + 60  # backs off

    held, _ = await attempts.enqueue(_row("run_1/held/1"), resend_after=60)
    assert (await attempts.claim(held.id, "worker-a", lease=30)).fence == 1
    assert await attempts.cancel(held.id)
    assert not await attempts.renew(held.id, 1, lease=30)  # the holder sees it and stops the step
    assert not await attempts.finish(held.id, 1, result={"kind": "outputs", "outputs": {}})
    assert (await attempts.get(held.id)).state == "cancelled"
    assert not await attempts.cancel(held.id)


async def _ignore(*_args):
    return None


async def test_a_queued_attempt_behind_a_busy_queue_waits_its_turn(attempts):
    """Its queue in Redis still holds messages: not lost, only waiting; re-sent only after PATIENCE."""
    from paperchain.engine.celery.reaper import PATIENCE

    row, _ = await attempts.enqueue(_row(), resend_after=60)
    await _expire(attempts, row.id)
    sent, asked = [], []

    async def send(attempt_id, queue, timeout):
        sent.append(attempt_id)

    async def waiting(queue):
        asked.append(queue)
        return 5

    reaper = Reaper(attempts, send, every=1, resend_after=60, waiting=waiting)
    assert await reaper.reap() == [] and sent == [] and asked == ["test"]
    postponed = await attempts.get(row.id)
    assert (postponed.state, postponed.sends) == ("queued", 1) and postponed.lease_until > time.time() + 50

    await _expire(attempts, row.id)
    await attempts.sql.write(sa.update(step_attempts).where(step_attempts.c.id == row.id)
                             .values(created=time.time() - PATIENCE * 60 - 1))  # it has waited long enough
    assert await reaper.reap() == [row.id] and sent == [row.id]
