"""The triggers' state and the webhook signatures seen (taking over the SQLite tables of before).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    # A deployment from before plugin storage already has these tables (same columns): keep them and their rows.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "triggers_state" not in existing:
        op.create_table("triggers_state", sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.Text, nullable=False), sa.Column("updated", sa.Float, nullable=False))
    if "triggers_webhook_seen" not in existing:
        op.create_table("triggers_webhook_seen", sa.Column("signature", sa.Text, primary_key=True),
                        sa.Column("workflow", sa.Text, nullable=False), sa.Column("seen", sa.Float, nullable=False))
