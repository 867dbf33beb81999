"""The outbox and inbox in the host's plugin storage, on SQLite and PostgreSQL (``database_url``):
idempotency keys, tenants, counts, the dead-letter resend and the inbox routes, and a kernel closed
mid-delivery whose outbox, reopened, sends what was not confirmed again under the same key."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import aiohttp
import pytest
from notify_support import Receiver, config, wait_until
from test_inapp import _serve

import paperchain_notify
from paperchain.harness import KernelHarness
from paperchain_sdk import InputError, Message


def _settings(database_url: str, **extra) -> dict:
    return {**config(**extra), "paperchain": {"database_url": database_url}}


def test_keys_tenants_counts_dead_letters_and_inbox(paperchain_kernel, database_url):
    harness = paperchain_kernel(paperchain_notify, config=_settings(database_url, **{
        "notify.webhook": {"max_attempts": 1}}))

    async def scenario():
        hook = harness.kernel.component("notify.webhook")
        outbox = hook.outbox
        async with Receiver() as ok, Receiver(always=400) as refusing:
            first = await hook.send(Message(to=(ok.url,), subject="s", body="b", idempotency_key="k1"))
            again = await hook.send(Message(to=(ok.url,), subject="s", body="b", idempotency_key="k1"))
            assert first.message_id == again.message_id  # one message per key
            (sent,) = await outbox.wait([first.message_id], 10)
            assert sent["status"] == "sent" and ok.keys == ["k1"]
            with pytest.raises(InputError, match="already taken"):  # another tenant's key: never its message
                await outbox.enqueue(hook._rows([ok.url], "s", "b", hook.settings, key="k1", priority=0,
                                                attachments=[], data={}, tenant="acme"))

            dead = await hook.send(Message(to=(refusing.url,), subject="d", body="b", idempotency_key="k2"))
            (failed,) = await outbox.wait([dead.message_id], 10)
            assert failed["status"] == "failed" and "400" in failed["reason"]
            assert [r["id"] for r in await outbox.dead_letters()] == [dead.message_id]
            assert await outbox.dead_letters(tenant="acme") == []
            assert await outbox.counts() == {"sent": 1, "failed": 1}
            assert [r["id"] for r in await outbox.recent(status="sent")] == [first.message_id]

            runner, base = await _serve(harness.kernel)
            try:
                async with aiohttp.ClientSession() as http:
                    resend = f"{base}/api/v1/notify/dead-letters/{dead.message_id}/resend"
                    async with http.post(resend, headers={"X-Test-User": "ed"}) as resp:
                        assert resp.status == 200 and (await resp.json())["attempts"] == 0
                    await wait_until(lambda: len(refusing.keys) == 2)  # sent again, same key
                    assert refusing.keys == ["k2", "k2"]
                    await outbox.wait([dead.message_id], 10)
                    revived = await hook.send(Message(to=(refusing.url,), subject="d2", body="b", idempotency_key="k2"))
                    assert (revived.message_id, revived.status) == (dead.message_id, "queued")  # its key came back
                    assert (await outbox.get(dead.message_id))["subject"] == "d2"
                    async with http.post(f"{base}/api/v1/notify/dead-letters/{first.message_id}/resend",
                                         headers={"X-Test-User": "ed"}) as resp:
                        assert resp.status == 404  # a sent message is no dead letter

                    inapp = harness.kernel.component("notify.inapp")
                    told = await inapp.send(Message(to=("alice",), subject="hello", body="b", idempotency_key="n1"))
                    await outbox.wait([told.message_id], 10)
                    async with http.get(f"{base}/api/v1/notify/inbox", headers={"X-Test-User": "alice"}) as resp:
                        (item,) = (await resp.json())["items"]
                    assert item["title"] == "hello" and item["read"] is None
                    async with http.post(f"{base}/api/v1/notify/inbox/{item['id']}/read",
                                         headers={"X-Test-User": "bob"}) as resp:
                        assert resp.status == 404  # not bob's
                    async with http.post(f"{base}/api/v1/notify/inbox/{item['id']}/read",
                                         headers={"X-Test-User": "alice"}) as resp:
                        assert resp.status == 200
                    async with http.get(f"{base}/api/v1/notify/inbox?unread=true",
                                        headers={"X-Test-User": "alice"}) as resp:
                        assert (await resp.json())["items"] == []
            finally:
                await runner.cleanup()

    harness.call(scenario())


class _ReceiverThread:
    """A Receiver on a loop of its own, so it outlives the kernels (and their loops) of a test."""

    def __init__(self, **options):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = self.run(self._open(options))

    async def _open(self, options):
        return await Receiver(**options).__aenter__()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def release(self):
        self.loop.call_soon_threadsafe(self.receiver.release.set)

    def close(self):
        self.run(self.receiver.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_a_kernel_closed_mid_delivery_resends_what_was_not_confirmed(tmp_path, database_url):
    served = _ReceiverThread(hold="/hold")
    receiver = served.receiver
    settings = _settings(database_url, **{"notify.webhook": {"timeout": 60}})
    first = KernelHarness([paperchain_notify], data_dir=tmp_path / "data", config=settings)
    try:
        async def queue():
            hook = first.kernel.component("notify.webhook")
            done = await hook.send(Message(to=(f"{receiver.url}/done",), subject="s", body="b", idempotency_key="a"))
            (row,) = await hook.outbox.wait([done.message_id], 10)
            assert row["status"] == "sent"  # confirmed and recorded before the close
            held = await hook.send(Message(to=(f"{receiver.url}/hold",), subject="s", body="b", idempotency_key="b"))
            await wait_until(lambda: "b" in receiver.keys)  # posted; no answer comes before the close
            return held.message_id

        held_id = first.call(queue())
    finally:
        first.close()  # mid-delivery: the held message is queued again (its claim released) at the close
    served.release()
    second = KernelHarness([paperchain_notify], data_dir=tmp_path / "data", config=settings)
    try:
        outbox = second.kernel.component("notify.webhook").outbox
        (row,) = second.call(outbox.wait([held_id], 20))
        assert row["status"] == "sent"
        assert second.call(outbox.counts()) == {"sent": 2}
    finally:
        second.close()
        served.close()
    # The confirmed message went once; the one cut short went again under its own key.
    assert Counter(receiver.keys) == {"a": 1, "b": 2}


def test_two_kernels_on_one_database_never_take_each_others_live_claims(tmp_path, database_url, monkeypatch):
    """A second kernel starting on the same database leaves the first's message in flight alone (a
    start used to queue every 'sending' row again, so it went twice); only a lapsed claim is queued
    again, and then the outcome of the outbox that lost the claim is not recorded over the new one."""
    import base64

    import sqlalchemy as sa

    from paperchain_notify.storage import outbox as table

    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(bytes(range(32))).decode())  # one deployment
    served = _ReceiverThread(hold="/hold")
    receiver = served.receiver
    settings = _settings(database_url, **{"notify.webhook": {"timeout": 60}})
    first = KernelHarness([paperchain_notify], data_dir=tmp_path / "first", config=settings)
    second = None
    try:
        async def queue():
            hook = first.kernel.component("notify.webhook")
            held = await hook.send(Message(to=(f"{receiver.url}/hold",), subject="s", body="b", idempotency_key="b"))
            await wait_until(lambda: "b" in receiver.keys)  # posted; no answer yet
            return held.message_id

        held_id = first.call(queue())
        first_owner = first.kernel.component("notify.webhook").outbox.owner
        second = KernelHarness([paperchain_notify], data_dir=tmp_path / "second", config=settings)
        outbox = second.kernel.component("notify.webhook").outbox
        assert outbox.owner != first_owner

        async def look_again():
            await outbox._renew_claims()  # what its worker does every RENEW_EVERY seconds
            await asyncio.sleep(0.3)
            return await outbox.get(held_id)

        row = second.call(look_again())
        assert (row["status"], row["claimed_by"]) == ("sending", first_owner) and receiver.keys == ["b"]

        # The first kernel hangs past its lease: the second queues the message again and sends it.
        second.call(outbox.store.write(sa.update(table).where(table.c.id == held_id).values(claimed_until=0.0)))
        second.call(outbox._renew_claims())
        second.call(wait_until(lambda: receiver.keys.count("b") == 2))
        served.release()
        (row,) = second.call(outbox.wait([held_id], 20))
        first_outbox = first.kernel.component("notify.webhook").outbox
        first.call(wait_until(lambda: not first_outbox._in_flight))  # its answer came and was not recorded
        assert row["status"] == "sent" and row["claimed_by"] is None
        # Recorded once, by the claim's holder: the first kernel's late answer changed nothing.
        assert second.call(outbox.get(held_id))["attempts"] == 1
    finally:
        first.close()
        if second is not None:
            second.close()
        served.close()
    assert Counter(receiver.keys) == {"b": 2}
