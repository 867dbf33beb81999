"""Claims with an owner and a lease on outbox rows being sent.

With two kernels on one database, a start that queued every ``sending`` row again would send the
other kernel's messages in flight a second time. A claim now names its outbox (``claimed_by``)
and lasts until ``claimed_until`` (renewed while its outbox runs); only a lapsed claim is queued
again. Rows claimed before this revision have neither: they are queued again at the next start,
as before.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("notify_outbox")}
    if "claimed_by" not in columns:
        op.add_column("notify_outbox", sa.Column("claimed_by", sa.Text))
    if "claimed_until" not in columns:
        op.add_column("notify_outbox", sa.Column("claimed_until", sa.Float))
