"""Real servers on loopback for the notify tests: an SMTP server (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
import socket
from email import policy

from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """An aiosmtpd server in its own thread that keeps every message it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.envelopes.append(envelope)
                sink.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Receiver:
    """An aiohttp server on loopback (on the caller's loop) recording JSON posts.

    ``fail_first`` answers 503 that many times before 200; ``always`` fixes the status. Requests
    to a path starting with ``hold`` get no answer until ``release`` is set. ``keys`` lists the
    Idempotency-Key of every request as it arrives (answered or not).
    """

    def __init__(self, *, fail_first: int = 0, always: int | None = None, secret: str = "", hold: str = ""):
        self.fail_first, self.always, self.secret, self.hold = fail_first, always, secret, hold
        self.requests: list[dict] = []
        self.keys: list[str] = []
        self.calls = 0
        self.bad_signatures = 0
        self.release = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls += 1
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        if self.hold and request.path.startswith(self.hold):
            await self.release.wait()
        if self.secret:
            stamp = request.headers.get("X-Paperchain-Timestamp", "")
            expected = "sha256=" + hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("X-Paperchain-Signature", "")):
                self.bad_signatures += 1
                return web.Response(status=401)
        if self.always is not None:
            return web.Response(status=self.always, text="nope")
        if self.calls <= self.fail_first:
            return web.Response(status=503, text="busy")
        self.requests.append({"path": request.path, "json": json.loads(body), "headers": dict(request.headers)})
        return web.Response(status=200, text="ok")

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.release.set()
        await self.runner.cleanup()


async def wait_until(predicate, timeout: float = 10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


LOOPBACK = {"allow_hosts": ["127.0.0.1"]}
HTTP_CHANNELS = ("notify.webhook", "notify.slack", "notify.teams", "notify.discord")


def config(smtp_port: int | None = None, **extra) -> dict:
    components = {name: dict(LOOPBACK) for name in HTTP_CHANNELS}
    if smtp_port:
        components["notify.email"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "bot@paperchain.test"}
    for name, table in extra.items():
        components.setdefault(name, {}).update(table)
    return {"components": components}
