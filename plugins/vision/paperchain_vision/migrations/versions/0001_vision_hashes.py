"""The perceptual hashes per document page (taking over the SQLite table of before, rows kept).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("vision_hashes"):
        op.create_table(
            "vision_hashes",
            sa.Column("document_id", sa.Text, nullable=False), sa.Column("page", sa.Integer, nullable=False),
            sa.Column("algorithm", sa.Text, nullable=False), sa.Column("bits", sa.Integer, nullable=False),
            sa.Column("hash", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("document_id", "page", "algorithm"),
        )
    if "vision_hashes_by_algorithm" not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("vision_hashes")}:
        op.create_index("vision_hashes_by_algorithm", "vision_hashes", ["algorithm", "bits"])
