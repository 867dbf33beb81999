"""Settings of each channel: plugins.toml's ``[components."notify.<channel>"]`` (transport) overlaid
with a step's ``with`` table (the message).

Durations are seconds. ``quiet_hours`` is "HH:MM-HH:MM" in ``timezone`` (it may wrap midnight);
messages of ``priority`` >= 2 (urgent) ignore it.
"""

from __future__ import annotations

from typing import Any

import attrs

SECRET_FIELDS = ("password", "secret")  # never written to the outbox; read from the deployment settings


@attrs.define(kw_only=True)
class MessageSettings:
    to: list[str] = attrs.Factory(list)  # recipients (addresses, users, or webhook URLs)
    subject: str = ""  # a Jinja2 template (sandboxed): run, document, inputs, data
    body: str = ""  # a Jinja2 template
    priority: int = 0  # higher goes first; >= 2 is urgent
    send_at: str = ""  # ISO-8601 time to send at (default: now)
    quiet_hours: str = ""  # e.g. "22:00-07:00"
    timezone: str = "UTC"
    data: dict[str, Any] = attrs.Factory(dict)  # extra template values and payload fields
    max_attempts: int = 5
    backoff: float = 1.0  # first retry delay; doubles each attempt
    wait: bool = True  # as a step: wait for the delivery's outcome (sent or failed)
    wait_timeout: float = 120.0


@attrs.define(kw_only=True)
class EmailSettings(MessageSettings):
    host: str = "127.0.0.1"
    port: int = 25
    security: str = attrs.field(default="none", validator=attrs.validators.in_(("none", "starttls", "tls")))
    username: str = ""
    password: str = ""
    password_env: str = ""
    sender: str = "paperchain@localhost"
    html: bool = False  # the body is HTML (escaped values); otherwise plain text
    attach_document: bool = False  # attach the run's document
    timeout: float = 30.0
    validate_certs: bool = True


@attrs.define(kw_only=True)
class WebhookSettings(MessageSettings):
    url: str = ""  # used when `to` is empty
    secret: str = ""  # signs each POST (HMAC-SHA256 over "<timestamp>.<body>")
    secret_env: str = ""
    allow_hosts: list[str] = attrs.Factory(list)  # hosts/IPs allowed even if private or loopback
    headers: dict[str, str] = attrs.Factory(dict)
    timeout: float = 10.0


@attrs.define(kw_only=True)
class InAppSettings(MessageSettings):
    pass
