"""A kill -9 while the outbox is delivering: what was delivered is recorded as it lands, so a
restart never sends it again; what was in flight goes again with the same Idempotency-Key. On
SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from notify_support import Receiver, config, wait_until

import paperchain_notify
from paperchain.harness import KernelHarness
from paperchain_sdk import Message

WORKER = str(Path(__file__).with_name("outbox_worker.py"))
FAST = 20


async def _worker(data_dir, database_url, *args):
    return await asyncio.create_subprocess_exec(sys.executable, WORKER, str(data_dir), database_url, *args,
                                                stdout=asyncio.subprocess.PIPE)


async def _sent_reaches(process, target: int, timeout: float) -> int:
    """Read the worker's 'rows sent' reports until ``target`` (or the timeout); the last one seen."""
    seen = 0
    try:
        async with asyncio.timeout(timeout):
            while seen < target:
                line = await process.stdout.readline()
                if not line:
                    break
                seen = int(line)
    except TimeoutError:
        pass
    return seen


@pytest.mark.slow
async def test_sigkill_after_posts_does_not_send_them_again(tmp_path, database_url):
    async with Receiver(hold="/slow") as receiver:
        urls = [f"{receiver.url}/fast/{i}" for i in range(FAST)] + [f"{receiver.url}/slow"]
        first = await _worker(tmp_path, database_url, "send", *urls)
        try:
            # Every POST has reached the receiver; the fast ones were answered, the slow one never is.
            await wait_until(lambda: len(receiver.keys) == len(urls), timeout=30)
            recorded = await _sent_reaches(first, FAST, timeout=5)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        receiver.release.set()

        second = await _worker(tmp_path, database_url, "finish")
        out, _ = await asyncio.wait_for(second.communicate(), timeout=60)
        assert second.returncode == 0
        assert json.loads(out.decode().splitlines()[-1]) == {"sent": len(urls)}

    times = Counter(receiver.keys)
    assert sorted(times) == sorted(f"crash:{url}" for url in urls)
    # The answered POSTs were recorded before the kill: not one went twice. The unanswered one
    # went again after the restart, with the same Idempotency-Key, so the receiver can drop it.
    assert {key: n for key, n in times.items() if n != 1} == {f"crash:{receiver.url}/slow": 2}
    assert recorded == FAST


def test_a_stop_records_outcomes_still_waiting_for_their_commit(tmp_path, database_url):
    settings = {**config(), "paperchain": {"database_url": database_url}}
    harness = KernelHarness([paperchain_notify], data_dir=tmp_path / "data", config=settings)

    async def scenario():
        async with Receiver() as receiver:
            hook = harness.kernel.component("notify.webhook")
            outbox = hook.outbox
            await outbox._record_lock.acquire()  # as if a commit of other outcomes were under way
            delivery = await hook.send(Message(to=(receiver.url,), subject="s", body="b", idempotency_key="stop"))
            await wait_until(lambda: outbox._landed_results)  # answered, waiting to be recorded
            assert len(receiver.requests) == 1
            return delivery.message_id

    try:
        message_id = harness.call(scenario())
    finally:
        harness.close()
    again = KernelHarness([paperchain_notify], data_dir=tmp_path / "data", config=settings)
    try:
        outbox = again.kernel.component("notify.webhook").outbox
        assert again.call(outbox.get(message_id))["status"] == "sent"
    finally:
        again.close()
