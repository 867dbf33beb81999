"""The example pair end to end: a file dropped in a folder is emailed and posted; a failing one
fires the error workflow. Real SMTP (aiosmtpd) and HTTP receivers on loopback."""

from __future__ import annotations

import asyncio
import email
import tomllib
from email import policy
from pathlib import Path

import pytest
from aiohttp import web
from triggers_support import Recorder, settle

import paperchain_triggers
from paperchain.trigger_host import TriggerHost

paperchain_notify = pytest.importorskip("paperchain_notify", reason="the example needs paperchain-notify")
pytest.importorskip("aiosmtpd", reason="the example test needs aiosmtpd")

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workflows"


def _load(name: str, smtp_port: int, webhook_url: str | None = None, inbox: Path | None = None) -> dict:
    definition = tomllib.loads((EXAMPLES / name).read_text())
    for step in definition["steps"]:
        if step["uses"] == "notify.email":
            step["with"]["port"] = smtp_port
        if step["uses"] == "notify.webhook":
            step["with"]["url"] = webhook_url
    if inbox is not None:
        definition["on"]["folder"].update(path=str(inbox), stable=0.3)
    return definition


def test_dropped_file_is_emailed_and_posted_and_a_failure_fires_the_error_workflow(paperchain_kernel, tmp_path):
    from aiosmtpd.controller import Controller

    mails = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            mails.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    harness = paperchain_kernel(paperchain_triggers, paperchain_notify, config={
        "components": {"notify.webhook": {"allow_hosts": ["127.0.0.1"]}}})
    k = harness.kernel
    posted = []

    async def receive(request):
        posted.append(await request.json())
        return web.Response(text="ok")

    async def scenario():
        seen = Recorder(k)
        app = web.Application()
        app.router.add_post("/{tail:.*}", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
        try:
            await k.workflows.save(_load("intake.toml", smtp_port, url, inbox))
            await k.workflows.save(_load("on-failure.toml", smtp_port))
            host = TriggerHost(k)
            await host.start()
            assert host.failures == {}
            (inbox / "letter.txt").write_text("Dear team, three words here.\n")
            (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
            for _ in range(400):
                if (inbox / "done" / "letter.txt").exists() and (inbox / "failed" / "broken.png").exists() \
                        and any(e.data.get("workflow") == "on-failure" for e in seen.of("run.succeeded")):
                    break
                await asyncio.sleep(0.05)
            await settle(k)
            await host.stop()
        finally:
            await runner.cleanup()

    try:
        harness.call(scenario())
    finally:
        smtp.stop()
    assert (inbox / "done" / "letter.txt").exists() and (inbox / "failed" / "broken.png").exists()
    by_subject = {m["Subject"]: m for m in mails}
    letter = by_subject["Processed letter.txt"]
    assert "has 5 words" in letter.get_body(("plain",)).get_content()
    assert [a.get_filename() for a in letter.iter_attachments()] == ["letter.txt"]
    failure = by_subject["Run failed in intake"]
    assert "needs OCR" in failure.get_body(("plain",)).get_content()
    assert len(posted) == 1 and posted[0]["subject"] == "intake: letter.txt" and posted[0]["body"] == "5 words"
    assert posted[0]["data"]["words"] == 5 and len(posted[0]["data"]["document"]) == 64
