"""Paperchain notifications: email, signed webhooks, Slack, Teams, Discord and in-app.

Each channel is a workflow step (``uses = "notify.email"``) and a kernel service
(``kernel.component("notify.email").send(Message)``). Messages go through a durable outbox
worked by a task that starts with the kernel. This module stays light: aiosmtplib, aiohttp and
jinja2 load only when a message is built or sent.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, hookimpl

from .settings import EmailSettings, InAppSettings, WebhookSettings

__version__ = "0.1.0"

CHANNELS = {
    "notify.email": ("EmailChannel", EmailSettings, "Email over SMTP (STARTTLS or TLS), with attachments"),
    "notify.webhook": ("WebhookChannel", WebhookSettings, "A JSON POST signed with HMAC-SHA256"),
    "notify.slack": ("SlackChannel", WebhookSettings, "A Slack incoming-webhook message"),
    "notify.teams": ("TeamsChannel", WebhookSettings, "A Microsoft Teams incoming-webhook Adaptive Card"),
    "notify.discord": ("DiscordChannel", WebhookSettings, "A Discord webhook message with an embed"),
    "notify.inapp": ("InAppChannel", InAppSettings, "An in-app notification stored per user, pushed live"),
}


@hookimpl
def paperchain_actions():
    return [ActionSpec(name=name, impl=f"paperchain_notify.channels:{cls}", settings=settings, summary=summary,
                       side_effects=True)
            for name, (cls, settings, summary) in CHANNELS.items()]


@hookimpl
def paperchain_startup(kernel):
    from .lifecycle import startup

    return startup(kernel, list(CHANNELS))


@hookimpl
def paperchain_shutdown(kernel):
    from .lifecycle import shutdown

    return shutdown(kernel)


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers; they find the kernel with kernel_of(request)
    from .routes import routes

    return list(routes)


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()
