"""How each channel puts a message on the wire. Each ``deliver`` raises TransientError (retry)
or another PaperchainError (give up) and returns a short detail on success."""

from __future__ import annotations

import hashlib
import json
import os
import time
from email.message import EmailMessage
from email.utils import make_msgid

from paperchain_sdk import ConfigError, InputError, TransientError
from paperchain_sdk.outbound import GuardedResolver, Refused, check_url, refusal_in
from paperchain_sdk.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class Item:
    """One outbox row: a message to one recipient."""

    __slots__ = ("attachments", "body", "channel", "data", "id", "key", "options", "priority", "recipient", "subject",
                 "tenant")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))


# -- email ----------------------------------------------------------------------------------------


async def send_email(item: Item, settings, blobs) -> str:
    import aiosmtplib

    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = item.recipient
    message["Subject"] = item.subject
    message["Message-ID"] = make_msgid(idstring=hashlib.sha256(item.key.encode()).hexdigest()[:24], domain="paperchain")
    message.set_content(item.body, subtype="html" if settings.html else "plain")
    for attachment in item.attachments or ():
        maintype, _, subtype = attachment["media_type"].partition("/")
        data = blobs.path(attachment["sha256"]).read_bytes()
        message.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=attachment["name"])
    password = settings.password or (os.environ.get(settings.password_env, "") if settings.password_env else "")
    try:
        await aiosmtplib.send(
            message, hostname=settings.host, port=settings.port, use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            username=settings.username or None, password=password or None, timeout=settings.timeout,
            validate_certs=settings.validate_certs,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise InputError(f"the SMTP server refused the recipient {item.recipient}: {exc}.") from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ConfigError(f"SMTP login to {settings.host} failed: {exc.message}.", hint="check username/password") from None
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600:
            raise InputError(f"the SMTP server rejected the message: {exc.code} {exc.message}.") from None
        raise TransientError(f"the SMTP server answered {exc.code} {exc.message}.") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TransientError(f"could not reach the SMTP server {settings.host}:{settings.port}: {exc}.") from None
    return f"accepted by {settings.host}:{settings.port}"


# -- HTTP channels -----------------------------------------------------------------------------------


def payload(channel: str, item: Item) -> dict:
    """The JSON body each service expects from an incoming webhook."""
    subject, body = item.subject, item.body
    if channel == "notify.slack":
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": body[:3000] or " "}}]
        if subject:
            blocks.insert(0, {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}})
        return {"text": f"{subject}\n{body}".strip()[:40000], "blocks": blocks}
    if channel == "notify.teams":
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": [
                    {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "TextBlock", "text": body, "wrap": True}]}
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    if channel == "notify.discord":
        return {"content": (subject or body)[:2000], "allowed_mentions": {"parse": []},
                "embeds": [{"title": subject[:256], "description": body[:4096]}] if subject else []}
    return {"id": item.id, "subject": subject, "body": body, "priority": item.priority, "data": item.data or {},
            "idempotency_key": item.key}


class HttpSender:
    """One aiohttp session per allow-list, reused across deliveries."""

    def __init__(self):
        self._sessions: dict[tuple, object] = {}

    def _session(self, allow_hosts):
        import aiohttp

        key = tuple(sorted(allow_hosts))
        session = self._sessions.get(key)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_hosts), limit=100)
            session = self._sessions[key] = aiohttp.ClientSession(connector=connector)
        return session

    async def send(self, item: Item, settings) -> str:
        import aiohttp

        url = check_url(item.recipient, settings.allow_hosts)
        body = json.dumps(payload(item.channel, item)).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": item.key, **settings.headers}
        secret = getattr(settings, "secret", "") or (os.environ.get(settings.secret_env, "") if settings.secret_env else "")
        if secret:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
        try:
            async with self._session(settings.allow_hosts).post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=settings.timeout),
                allow_redirects=False,
            ) as response:
                text = (await response.text())[:200]
                status = response.status
        except Refused:
            raise
        except aiohttp.ClientConnectorError as exc:
            if (refused := refusal_in(exc)) is not None:
                raise refused from None
            raise TransientError(f"could not connect to {url}: {exc}.") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"POST {url} failed: {type(exc).__name__} {exc}.") from None
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status == 429 or status >= 500:
            raise TransientError(f"POST {url} answered HTTP {status}: {text}")
        raise InputError(f"POST {url} answered HTTP {status}: {text}", hint="check the URL and the payload it expects")

    async def close(self):
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
