"""The notify plugin's tables, in the host's plugin storage (SQLite or PostgreSQL).

``notify_outbox``: one row per message to one recipient; ``notify_inbox``: the in-app
notifications. Created and changed only by the Alembic revisions in ``migrations/versions``; the
first takes over the tables the plugin made in the kernel's SQLite file before, rows kept.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("notify", migrations="paperchain_notify:migrations")


def _text(name: str, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


def _number(name: str, kind=sa.Float, default: str | None = None) -> sa.Column:
    return sa.Column(name, kind, nullable=False, server_default=default)


outbox = SCHEMA.table(
    "notify_outbox",
    sa.Column("id", sa.Text, primary_key=True), _text("channel"), sa.Column("idempotency_key", sa.Text, nullable=False,
                                                                             unique=True),
    _text("recipient"), _text("subject"), _text("body"), _text("payload"), _number("priority", sa.Integer),
    _number("send_at"), _number("next_try"), _number("attempts", sa.Integer, "0"), _number("max_attempts", sa.Integer),
    _number("backoff"), _text("status"), _text("reason", ""), _number("created"), sa.Column("sent", sa.Float),
    sa.Column("tenant", sa.Text),  # NULL: a row from before tenants
    sa.Column("claimed_by", sa.Text),  # while 'sending': the outbox that claimed it (NULL: claimed before 0002)
    sa.Column("claimed_until", sa.Float),  # while 'sending': when the claim lapses unless renewed
    sa.Index("notify_outbox_due", "status", "next_try"),
)
inbox = SCHEMA.table(
    "notify_inbox",
    sa.Column("id", sa.Text, primary_key=True), _text("user"), _text("title"), _text("body"), _text("data"),
    _number("created"), sa.Column("read", sa.Float), sa.Column("tenant", sa.Text),
    sa.Index("notify_inbox_user", "user", "created"),
)
