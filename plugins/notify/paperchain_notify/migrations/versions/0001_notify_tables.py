"""The outbox and in-app inbox tables.

Takes over the SQLite tables the plugin made itself before plugin storage, rows kept; tables made
before tenants gain ``tenant`` (NULL for their rows, which keep meaning what they meant).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _text(name, default=None):
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


def _number(name, kind=sa.Float, default=None):
    return sa.Column(name, kind, nullable=False, server_default=default)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "notify_outbox" not in tables:
        op.create_table(
            "notify_outbox",
            sa.Column("id", sa.Text, primary_key=True), _text("channel"),
            sa.Column("idempotency_key", sa.Text, nullable=False, unique=True), _text("recipient"), _text("subject"),
            _text("body"), _text("payload"), _number("priority", sa.Integer), _number("send_at"), _number("next_try"),
            _number("attempts", sa.Integer, "0"), _number("max_attempts", sa.Integer), _number("backoff"),
            _text("status"), _text("reason", ""), _number("created"), sa.Column("sent", sa.Float),
            sa.Column("tenant", sa.Text),
        )
    if "notify_inbox" not in tables:
        op.create_table(
            "notify_inbox",
            sa.Column("id", sa.Text, primary_key=True), _text("user"), _text("title"), _text("body"), _text("data"),
            _number("created"), sa.Column("read", sa.Float), sa.Column("tenant", sa.Text),
        )
    for table, index, columns in (("notify_outbox", "notify_outbox_due", ["status", "next_try"]),
                                  ("notify_inbox", "notify_inbox_user", ["user", "created"])):
        if table in tables:
            if "tenant" not in {column["name"] for column in inspector.get_columns(table)}:
                op.add_column(table, sa.Column("tenant", sa.Text))
            if index in {found["name"] for found in inspector.get_indexes(table)}:
                continue
        op.create_index(index, table, columns)
