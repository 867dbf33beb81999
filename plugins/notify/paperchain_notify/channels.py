"""The notifier components. Each is both a workflow step (an Action: ``uses = "notify.email"``)
and a kernel service (a Notifier: ``kernel.component("notify.email").send(Message)``); both put
messages in the durable outbox, which delivers them through :meth:`Channel.deliver`.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from paperchain_sdk import ConfigError, Delivery, InputError, Message, PaperchainError
from paperchain_sdk.contracts import Action, Notifier

from .outbox import GAVE_UP
from .settings import SECRET_FIELDS, MessageSettings
from .templates import render

URGENT = 2
_MESSAGE_FIELDS = {f.name for f in attrs.fields(MessageSettings)}


class DeliveryFailed(PaperchainError):
    """The outbox gave up on a message. Running the step again sends it again (the outbox revives
    a dead letter whose key comes back), so the step's own retries help when the failures were
    retryable ones (timeouts, 5xx) and not when the message was refused (4xx, bad settings)."""

    def __init__(self, message: str, hint: str | None = None, *, retryable: bool = False):
        super().__init__(message, hint)
        self.retryable = retryable


def _document_values(document) -> dict:
    if document is None:
        return {}
    return {"id": document.id, "name": document.name, "stem": document.stem, "media_type": document.media_type,
            "size": document.size, "metadata": dict(document.metadata), "tags": list(document.tags),
            "text": document.text or "", "findings": dict(document.findings)}


def send_time(options: MessageSettings, priority: int, now: dt.datetime | None = None) -> float:
    """When a message may go: its send_at, pushed past quiet hours unless it is urgent."""
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {options.timezone!r}.", hint='use an IANA name such as "Europe/Madrid"') from None
    now = now or dt.datetime.now(dt.UTC)
    moment = now
    if options.send_at:
        try:
            moment = dt.datetime.fromisoformat(options.send_at)
        except ValueError:
            raise InputError(f"send_at {options.send_at!r} is not an ISO-8601 time.", hint='e.g. "2026-05-01T09:00:00+02:00"') from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    if options.quiet_hours and priority < URGENT:
        start, end = _quiet_window(options.quiet_hours)
        local = moment.astimezone(zone)
        minutes = local.hour * 60 + local.minute
        inside = start <= minutes < end if start < end else (minutes >= start or minutes < end)
        if inside:
            wake = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
            if wake <= local:
                wake += dt.timedelta(days=1)
            moment = wake
    return moment.timestamp()


def _quiet_window(text: str) -> tuple[int, int]:
    try:
        first, second = text.split("-")
        values = []
        for part in (first, second):
            hours, minutes = part.strip().split(":")
            values.append(int(hours) * 60 + int(minutes))
    except ValueError:
        raise InputError(f"quiet_hours {text!r} is not a window like \"22:00-07:00\".") from None
    return values[0], values[1]


class Channel(Action, Notifier):
    name = "notify"

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self.outbox = None
        self.kernel = None

    def bind(self, kernel, outbox) -> None:
        self.kernel, self.outbox = kernel, outbox

    def _require_outbox(self):
        if self.outbox is None:
            raise ConfigError(f"{self.name} needs the notify outbox, which starts with the kernel.",
                              hint="run it inside Paperchain (paperchain run / serve) with paperchain-notify installed")
        return self.outbox

    # -- what differs per channel -------------------------------------------------------------------

    def recipients(self, options) -> list[str]:
        if not options.to:
            raise InputError(f"{self.name}: no recipients.", hint="set 'to' in the step's with table")
        return list(options.to)

    @abc.abstractmethod
    async def deliver(self, item) -> str:
        """Send one queued item; return a short note of what happened."""

    async def close(self) -> None:
        pass

    async def attachments(self, options, document) -> list[dict]:
        return []

    # -- building outbox rows --------------------------------------------------------------------------

    def _transport(self, options) -> dict:
        """The options delivery needs, minus the message fields and the secrets."""
        values = attrs.asdict(options)
        return {k: v for k, v in values.items()
                if k not in _MESSAGE_FIELDS and k not in SECRET_FIELDS and v != getattr(self.settings, k, None)}

    def _own_secrets(self, options) -> dict:
        """Secrets a step set itself (not the deployment's). They travel with the message, since
        delivery has nothing else to read them from, and the outbox erases them once the message
        is sent or dead-lettered."""
        return {k: getattr(options, k) for k in SECRET_FIELDS
                if getattr(options, k, "") and getattr(options, k) != getattr(self.settings, k, None)}

    async def check_recipients(self, recipients: list[str], tenant: str) -> None:
        """Refuse recipients a message of ``tenant`` may not reach (before anything is queued)."""

    def _rows(self, recipients, subject, body, options, *, key, priority, attachments, data, tenant) -> list[dict]:
        send_at = send_time(options, priority)
        fields = {"data": data, "attachments": attachments, "options": self._transport(options)}
        secrets = self._own_secrets(options)
        payload = json.dumps({**fields, "secrets": secrets} if secrets else fields, default=str)
        return [{
            "channel": self.name, "idempotency_key": f"{key}:{recipient}" if len(recipients) > 1 else key,
            "recipient": recipient, "subject": subject, "body": body, "payload": payload, "priority": priority,
            "send_at": send_at, "max_attempts": max(1, options.max_attempts), "backoff": max(0.0, options.backoff),
            "tenant": tenant,
        } for recipient in recipients]

    def settings_for(self, item):
        """The deployment settings with the message's own transport options on top."""
        return attrs.evolve(self.settings, **(item.options or {})) if item.options else self.settings

    # -- as a workflow step ----------------------------------------------------------------------------

    async def run(self, ctx, options) -> dict:
        outbox = self._require_outbox()
        if getattr(options, "allow_hosts", None) != getattr(self.settings, "allow_hosts", None):
            raise ConfigError(f"{self.name}: allow_hosts may only be set by the deployment, not in a step's with table.",
                              hint=f'set it in plugins.toml under [components."{self.name}"]')
        context = {"run": {"id": ctx.run_id, "workflow": ctx.workflow, "step": ctx.step_id, "inputs": dict(ctx.inputs)},
                   "document": _document_values(ctx.document), "inputs": dict(ctx.inputs), "data": dict(options.data)}
        html = bool(getattr(options, "html", False))
        where = f"step {ctx.step_id!r} ({self.name})"
        subject = render(options.subject, context, where=f"{where}, subject")
        body = render(options.body, context, html=html, where=f"{where}, body")
        recipients = [render(r, context, where=f"{where}, to") for r in self.recipients(options)]
        await self.check_recipients(recipients, ctx.tenant)
        attachments = await self.attachments(options, ctx.document)
        rows = self._rows(recipients, subject, body, options, key=ctx.idempotency_key or f"{ctx.run_id}:{ctx.step_id}",
                          priority=options.priority, attachments=attachments, data=dict(options.data),
                          tenant=ctx.tenant)
        stored = await outbox.enqueue(rows)
        if options.wait and all(r["send_at"] <= r["created"] + 1 for r in stored):
            stored = await outbox.wait([r["id"] for r in stored], options.wait_timeout)
        failed = [r for r in stored if r["status"] == "failed"]
        if failed:
            raise DeliveryFailed(f"{self.name}: {len(failed)} of {len(stored)} message(s) failed: {failed[0]['reason']}",
                                 retryable=all(r["reason"].startswith(GAVE_UP) for r in failed))
        return {"messages": [{"id": r["id"], "recipient": r["recipient"], "status": _public(r["status"]),
                              "detail": r["reason"]} for r in stored],
                "sent": sum(r["status"] == "sent" for r in stored)}

    # -- as a kernel service ---------------------------------------------------------------------------

    async def send(self, message: Message) -> Delivery:
        """Queue ``message`` (subject and body are templates over ``message.data``) and say so."""
        outbox = self._require_outbox()
        options = self.settings
        if message.data.get("send_at"):
            options = attrs.evolve(options, send_at=str(message.data["send_at"]))
        context = {"data": dict(message.data), **dict(message.data)}
        subject = render(message.subject, context, where=f"{self.name} subject")
        body = render(message.body, context, html=bool(getattr(options, "html", False)), where=f"{self.name} body")
        recipients = list(message.to) or self.recipients(options)
        await self.check_recipients(recipients, "")  # a service call acts for the deployment, not a tenant
        attachments = [self._store_artifact(a) for a in message.attachments]
        key = message.idempotency_key or f"send:{self.name}:{json.dumps([recipients, subject, body], sort_keys=True)}"
        stored = await outbox.enqueue(self._rows(recipients, subject, body, options, key=key, priority=message.priority,
                                                 attachments=attachments, data=dict(message.data), tenant=""))
        first = stored[0]
        return Delivery(channel=self.name, status=_public(first["status"]), message_id=first["id"],
                        detail=first["reason"] or f"{len(stored)} message(s) queued")

    def _store_artifact(self, artifact) -> dict:
        blobs = self.kernel.blobs
        sha = artifact.sha256
        if not sha or not blobs.path(sha).exists():
            sha, _, _ = blobs.put_bytes(artifact.read_bytes())
        return {"name": artifact.name, "media_type": artifact.media_type, "sha256": sha}


def _public(status: str) -> str:
    return "queued" if status == "sending" else status


class EmailChannel(Channel):
    name = "notify.email"

    async def attachments(self, options, document) -> list[dict]:
        if options.attach_document and document is not None:
            return [{"name": document.name, "media_type": document.media_type, "sha256": document.id}]
        return []

    async def deliver(self, item) -> str:
        from .transports import send_email

        return await send_email(item, self.settings_for(item), self.kernel.blobs)


class WebhookChannel(Channel):
    name = "notify.webhook"

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self._http = None

    def recipients(self, options) -> list[str]:
        urls = list(options.to) or ([options.url] if options.url else [])
        if not urls:
            raise InputError(f"{self.name}: no URL to post to.", hint="set 'url' (or 'to' for several)")
        return urls

    async def deliver(self, item) -> str:
        if self._http is None:
            from .transports import HttpSender

            self._http = HttpSender()
        return await self._http.send(item, self.settings_for(item))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class SlackChannel(WebhookChannel):
    name = "notify.slack"


class TeamsChannel(WebhookChannel):
    name = "notify.teams"


class DiscordChannel(WebhookChannel):
    name = "notify.discord"


class InAppChannel(Channel):
    """Notifications stay inside their tenant: a tenant's run may notify only that tenant's users
    (and names that are no user yet), and the inbox shows a user only its own tenant's."""

    name = "notify.inapp"

    async def _foreigner(self, user: str, tenant: str) -> str | None:
        """Why ``user`` may not receive a notification of ``tenant``, or None if it may."""
        theirs = await self.kernel.user_tenant(user)
        if theirs is None or theirs == tenant:
            return None
        of = f"tenant {tenant!r}" if tenant else "the deployment (no tenant)"
        return (f"{self.name}: {user!r} is not a user of {of}, so a notification of {of} cannot reach them; "
                "address users of the run's own tenant")

    async def check_recipients(self, recipients: list[str], tenant: str) -> None:
        for user in recipients:
            if reason := await self._foreigner(user, tenant):
                raise InputError(reason, hint="a run notifies only the users of its own tenant")

    async def deliver(self, item) -> str:
        import time

        # Again at delivery: a user may have moved to another tenant since the message was queued.
        # A row from before tenants (None) goes as it would have.
        if item.tenant is not None and (reason := await self._foreigner(item.recipient, item.tenant)):
            raise InputError(reason)  # no retry can fix it: dead-lettered at once

        from .storage import inbox

        store = self.outbox.store
        stored = await store.write(  # once per message, though a crash may make the outbox deliver it twice
            store.insert(inbox).values(id=item.id, user=item.recipient, title=item.subject, body=item.body,
                                       data=json.dumps(item.data or {}), created=time.time(), tenant=item.tenant)
            .on_conflict_do_nothing(index_elements=["id"]))
        if stored.rowcount == 1:
            # The tenant in the event lets the live API push it to that tenant's users only.
            await self.kernel.emit("notification.created", item.id,
                                   {"user": item.recipient, "title": item.subject, "body": item.body,
                                    "tenant": item.tenant})
        return f"stored for {item.recipient}"
