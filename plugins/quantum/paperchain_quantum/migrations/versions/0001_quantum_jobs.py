"""The background jobs table (taking over the SQLite table of before, rows kept).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("quantum_jobs"):
        op.create_table(
            "quantum_jobs",
            sa.Column("id", sa.Text, primary_key=True), sa.Column("tenant", sa.Text, nullable=False),
            sa.Column("created_by", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False), sa.Column("request", sa.Text, nullable=False),
            sa.Column("result", sa.Text), sa.Column("histogram", sa.LargeBinary), sa.Column("error", sa.Text),
            sa.Column("created", sa.Float, nullable=False), sa.Column("finished", sa.Float),
        )
    if "quantum_jobs_tenant" not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("quantum_jobs")}:
        op.create_index("quantum_jobs_tenant", "quantum_jobs", ["tenant", "created"])
