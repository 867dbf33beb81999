"""A step's own settings reach the wire (its secret signs the webhook), unknown settings are
refused by name, and retrying a run sends a dead-lettered notification again."""

from __future__ import annotations

import json

import pytest
from notify_support import Receiver, config

from paperchain.outcomes import load_batch
from paperchain_notify import CHANNELS
from paperchain_sdk import ConfigError, Message


def _step(url, **with_):
    return {"name": "poster", "steps": [{"id": "post", "uses": "notify.webhook", "with": {"url": url, **with_}}]}


def test_a_steps_own_secret_signs_the_webhook_and_is_not_kept(kernel):
    harness = kernel(config())  # the deployment sets no secret

    async def scenario():
        async with Receiver(secret="step-secret") as receiver:
            outcome = await harness._run(_step(receiver.url, body="signed", secret="step-secret", max_attempts=1), (), {})
            assert receiver.bad_signatures == 0 and outcome.status == "succeeded", outcome
            (request,) = receiver.requests
            assert request["headers"]["X-Paperchain-Signature"].startswith("sha256=")
            outbox = harness.kernel.component("notify.webhook").outbox
            payloads = [r["payload"] for r in await outbox.recent()]
            assert payloads and all("step-secret" not in p and "secrets" not in json.loads(p) for p in payloads)

    harness.call(scenario())


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_unknown_settings_are_refused_by_name(kernel, name):
    harness = kernel(config())
    step = {"id": "s", "uses": name, "with": {"to": ["x"], "sekret": "oops"}}
    with pytest.raises(ConfigError, match="unknown key.*sekret"):
        harness.kernel.load_workflow({"name": "w", "steps": [step]})


def test_retrying_a_run_sends_a_dead_lettered_notification_again(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02}}))
    engine = harness.kernel.engine

    async def scenario():
        async with Receiver(fail_first=1) as receiver:
            first = await harness._run(_step(receiver.url, body="retry me", max_attempts=1), (), {})
            (run,) = first.runs
            assert run.status == "failed" and "HTTP 503" in run.steps["post"].error
            batch_id = await engine.retry_run(run.id)
            await engine.run_batch(batch_id)
            (run,) = (await load_batch(harness.kernel, batch_id)).runs
            assert run.status == "succeeded", run
            assert receiver.calls == 2 and len(receiver.requests) == 1
            assert run.steps["post"].outputs["sent"] == 1

    harness.call(scenario())


def test_a_repeated_key_resends_a_failure_but_never_a_success(kernel):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02, "max_attempts": 1}}))

    async def scenario():
        async with Receiver(fail_first=1) as receiver:
            hook = harness.kernel.component("notify.webhook")
            message = Message(to=(receiver.url,), subject="s", body="b", idempotency_key="k-retry")
            rows = []
            for _ in range(3):
                delivery = await hook.send(message)
                rows += await hook.outbox.wait([delivery.message_id], 10)
            assert [r["status"] for r in rows] == ["failed", "sent", "sent"]
            assert len({r["id"] for r in rows}) == 1  # one message, tried again, not a new one
            assert receiver.calls == 2 and len(receiver.requests) == 1

    harness.call(scenario())


@pytest.mark.parametrize("status,sent", [(503, True), (404, False)])
def test_a_steps_own_retries_send_again_only_after_retryable_failures(kernel, status, sent):
    harness = kernel(config(**{"notify.webhook": {"backoff": 0.02, "max_attempts": 1}}))
    workflow = _step("", body="b")
    workflow["steps"][0]["retry"] = {"attempts": 2, "backoff": 0.01}

    async def scenario():
        async with Receiver(fail_first=1 if status == 503 else 0, always=None if status == 503 else 404) as receiver:
            workflow["steps"][0]["with"]["url"] = receiver.url
            (run,) = (await harness._run(workflow, (), {})).runs
            assert (run.status == "succeeded") is sent, run
            assert run.steps["post"].attempts == (2 if sent else 1) and receiver.calls == run.steps["post"].attempts

    harness.call(scenario())
