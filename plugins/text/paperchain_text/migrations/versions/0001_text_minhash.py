"""The near-duplicate index (MinHash LSH): creates its tables, or takes over the ones the plugin
created itself in the kernel's SQLite file before plugin storage (same names and columns: rows kept).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "text_minhash_meta" not in present:
        op.create_table("text_minhash_meta", sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.Text, nullable=False))
    if "text_minhash" not in present:
        op.create_table("text_minhash", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("document_id", sa.Text, nullable=False, unique=True),
                        sa.Column("signature", sa.LargeBinary, nullable=False))
    if "text_lsh_buckets" not in present:
        op.create_table("text_lsh_buckets", sa.Column("bucket", sa.BigInteger, nullable=False),
                        sa.Column("doc", sa.Integer, nullable=False), sa.PrimaryKeyConstraint("bucket", "doc"),
                        sqlite_with_rowid=False)
    if "text_lsh_buckets_doc" not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("text_lsh_buckets")}:
        op.create_index("text_lsh_buckets_doc", "text_lsh_buckets", ["doc"])
