"""Email through a real SMTP server (aiosmtpd) on loopback: steps, attachments, the service API."""

from __future__ import annotations

from notify_support import config, wait_until

from paperchain_sdk import Artifact, Message


def test_step_emails_with_templates_and_the_document_attached(kernel, smtp, tmp_path):
    source = tmp_path / "invoice-42.txt"
    source.write_text("Total: 12 EUR\n")
    harness = kernel(config(smtp.port))
    workflow = {"name": "mailer", "steps": [{"id": "mail", "uses": "notify.email", "with": {
        "to": ["ana@example.test", "ben@example.test"],
        "subject": "Processed {{ document.name }}",
        "body": "Run {{ run.id }} of {{ run.workflow }}: {{ document.size }} bytes, note={{ data.note }}",
        "data": {"note": "hello"}, "attach_document": True}}]}
    outcome = harness.run(workflow, files=[source])
    assert outcome.status == "succeeded", outcome
    assert len(smtp.messages) == 2
    message = smtp.messages[0]
    assert message["Subject"] == "Processed invoice-42.txt" and message["From"] == "bot@paperchain.test"
    assert sorted(m["To"] for m in smtp.messages) == ["ana@example.test", "ben@example.test"]
    body = message.get_body(("plain",)).get_content()
    assert "of mailer: 14 bytes, note=hello" in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "invoice-42.txt" and attachment.get_content() == "Total: 12 EUR\n"


def test_service_send_queues_and_delivers_an_artifact(kernel, smtp):
    harness = kernel(config(smtp.port))
    kernel_ = harness.kernel

    async def scenario():
        mailer = kernel_.component("notify.email")
        delivery = await mailer.send(Message(
            to=("ops@example.test",), subject="Report {{ name }}", body="See attached, {{ name }}.",
            data={"name": "Q3"}, attachments=(Artifact(name="q3.csv", media_type="text/csv", data=b"a,b\n1,2\n"),),
            idempotency_key="report-q3"))
        assert delivery.channel == "notify.email" and delivery.status == "queued" and delivery.message_id
        again = await mailer.send(Message(to=("ops@example.test",), subject="Report", idempotency_key="report-q3"))
        assert again.message_id == delivery.message_id  # deduplicated by key
        await wait_until(lambda: len(smtp.messages) >= 1)
        outbox = mailer.outbox
        (row,) = await outbox.wait([delivery.message_id], 5)
        assert row["status"] == "sent" and row["attempts"] == 1
        return delivery

    harness.call(scenario())
    (message,) = smtp.messages
    assert message["Subject"] == "Report Q3"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "q3.csv" and attachment.get_content() == "a,b\n1,2\n"


def test_unreachable_smtp_server_is_retried_then_dead_lettered(kernel):
    import attrs
    from notify_support import free_port

    harness = kernel(config(free_port()))  # nothing listens there

    async def scenario():
        mailer = harness.kernel.component("notify.email")
        mailer.settings = attrs.evolve(mailer.settings, max_attempts=2, backoff=0.05, timeout=2.0)
        delivery = await mailer.send(Message(to=("x@example.test",), subject="s", body="b"))
        (row,) = await mailer.outbox.wait([delivery.message_id], 10)
        assert row["status"] == "failed" and row["attempts"] == 2
        assert "gave up after 2 attempts" in row["reason"] and "could not reach the SMTP server" in row["reason"]
        assert [r["id"] for r in await mailer.outbox.dead_letters()] == [delivery.message_id]

    harness.call(scenario())


def test_missing_recipients_is_a_clear_step_error(kernel, smtp):
    harness = kernel(config(smtp.port))
    outcome = harness.run({"name": "m", "steps": [{"id": "mail", "uses": "notify.email", "with": {"subject": "x"}}]},
                          inputs={})
    assert outcome.status == "failed"
    assert "no recipients" in str(outcome)
