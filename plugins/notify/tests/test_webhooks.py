"""Webhook-style channels against real HTTP receivers on loopback: shapes, HMAC, retries, dead letters, SSRF."""

from __future__ import annotations

import time

import attrs
import pytest
from notify_support import Receiver, config

from paperchain_sdk import Message
from paperchain_sdk.outbound import forbidden


def _step(uses, url, **with_):
    return {"name": "poster", "steps": [{"id": "post", "uses": uses, "with": {"url": url, **with_}}]}


def test_webhook_is_json_and_hmac_signed(kernel):
    harness = kernel(config(**{"notify.webhook": {"secret": "hook-secret"}}))

    async def scenario():
        async with Receiver(secret="hook-secret") as receiver:
            outcome = await harness._run(_step("notify.webhook", f"{receiver.url}/in", subject="Done {{ inputs.n }}",
                                               body="all good", data={"k": 1}), (), {"n": 7})
            assert outcome.status == "succeeded", outcome
            assert receiver.bad_signatures == 0
            (request,) = receiver.requests
            assert request["json"]["subject"] == "Done 7" and request["json"]["data"] == {"k": 1}
            assert request["headers"]["Idempotency-Key"] == request["json"]["idempotency_key"]

    harness.call(scenario())


def test_wrong_secret_is_seen_by_the_receiver(kernel):
    harness = kernel(config(**{"notify.webhook": {"secret": "not-the-one", "max_attempts": 1}}))

    async def scenario():
        async with Receiver(secret="hook-secret") as receiver:
            outcome = await harness._run(_step("notify.webhook", receiver.url, body="x"), (), {})
            assert outcome.status == "failed" and "HTTP 401" in str(outcome)
            assert receiver.bad_signatures == 1

    harness.call(scenario())


@pytest.mark.parametrize("uses", ["notify.slack", "notify.teams", "notify.discord"])
def test_chat_payload_shapes(kernel, uses):
    harness = kernel(config())

    async def scenario():
        async with Receiver() as receiver:
            outcome = await harness._run(_step(uses, receiver.url, subject="Batch {{ inputs.b }}", body="3 *documents*"),
                                         (), {"b": "b1"})
            assert outcome.status == "succeeded", outcome
            return receiver.requests[0]["json"]

    payload = harness.call(scenario())
    if uses == "notify.slack":
        assert payload["text"].startswith("Batch b1")
        assert payload["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Batch b1"}}
        assert payload["blocks"][1]["text"] == {"type": "mrkdwn", "text": "3 *documents*"}
    elif uses == "notify.teams":
        (attachment,) = payload["attachments"]
        assert payload["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and [b["text"] for b in card["body"]] == ["Batch b1", "3 *documents*"]
    else:
        assert payload["content"] == "Batch b1" and payload["allowed_mentions"] == {"parse": []}
        assert payload["embeds"] == [{"title": "Batch b1", "description": "3 *documents*"}]


def test_receiver_failing_twice_then_succeeding_is_retried(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.05}}))

    async def scenario():
        async with Receiver(fail_first=2) as receiver:
            hook = harness.kernel.component("notify.webhook")
            delivery = await hook.send(Message(to=(receiver.url,), subject="s", body="b", idempotency_key="k1"))
            (row,) = await hook.outbox.wait([delivery.message_id], 10)
            assert row["status"] == "sent" and row["attempts"] == 3 and receiver.calls == 3
            assert len(receiver.requests) == 1

    harness.call(scenario())


def test_receiver_always_failing_ends_in_the_dead_letter_list(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02, "max_attempts": 3}}))

    async def scenario():
        async with Receiver(always=500) as receiver:
            outcome = await harness._run(_step("notify.webhook", receiver.url, body="x"), (), {})
            assert outcome.status == "failed" and "gave up after 3 attempts" in str(outcome)
            assert receiver.calls == 3
            hook = harness.kernel.component("notify.webhook")
            (dead,) = await hook.outbox.dead_letters()
            assert dead["status"] == "failed" and "HTTP 500" in dead["reason"]

    harness.call(scenario())


def test_client_errors_are_not_retried(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02}}))

    async def scenario():
        async with Receiver(always=404) as receiver:
            outcome = await harness._run(_step("notify.webhook", receiver.url, body="x"), (), {})
            assert outcome.status == "failed" and receiver.calls == 1

    harness.call(scenario())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_without_the_allow_list(kernel, host):
    harness = kernel({"components": {}})

    async def scenario():
        async with Receiver() as receiver:
            url = receiver.url.replace("127.0.0.1", host)
            outcome = await harness._run(_step("notify.slack", url, body="x"), (), {})
            assert outcome.status == "failed" and "server-side request forgery" in str(outcome)
            assert receiver.calls == 0

    harness.call(scenario())


@pytest.mark.parametrize("address,refused", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.9", True), ("172.16.5.5", True),
    ("169.254.169.254", True), ("::1", True), ("fe80::1", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", True),
    ("100.64.0.1", True), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_address_classification(address, refused):
    assert forbidden(address) is refused


def test_dedupe_priority_and_bulk(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02}}))

    async def scenario():
        async with Receiver() as receiver:
            hook = harness.kernel.component("notify.webhook")
            outbox = hook.outbox
            # Bulk: one message to many recipients is one delivery each.
            urls = tuple(f"{receiver.url}/r{i}" for i in range(40))
            first = await hook.send(Message(to=urls, subject="bulk", body="b", idempotency_key="bulk-1"))
            again = await hook.send(Message(to=urls, subject="bulk", body="b", idempotency_key="bulk-1"))
            assert first.message_id == again.message_id
            from notify_support import wait_until

            await wait_until(lambda: len(receiver.requests) == 40)
            assert sorted(r["path"] for r in receiver.requests) == sorted(f"/r{i}" for i in range(40))
            # Priority: the worker claims urgent messages first.
            # Stop the worker and wait until it has (a cancel alone can be swallowed by wait_for on
            # Python 3.11 when the wake-up lands at the same moment, and it would claim 'low' itself).
            outbox._stopping = True
            outbox._wake.set()
            await outbox._task
            later = time.time() + 0.0
            for name, priority in (("low", 0), ("urgent", 5), ("normal", 1)):
                opts = attrs.evolve(hook.settings)
                await outbox.enqueue(hook._rows([receiver.url], name, "", opts, key=f"p-{name}", priority=priority,
                                                attachments=[], data={}, tenant=""))
            claimed = await outbox._claim(later + 1)
            assert [r["subject"] for r in claimed] == ["urgent", "normal", "low"]

    harness.call(scenario())
