"""The text plugin's tables in the host's plugin storage (SQLAlchemy Core, prefixed ``text_``).

They live in the deployment's database (the SQLite file of the data directory, or PostgreSQL) and
are created by the plugin's Alembic revisions in ``migrations/versions``; the first one takes over
the tables of the same name that the plugin created itself before, rows kept.

- ``text_minhash_meta``: the near-duplicate index's parameters (key -> value), checked on open;
- ``text_minhash``: one row per indexed document, its MinHash signature (uint32 values as bytes);
- ``text_lsh_buckets``: (band key, document row) pairs; a SQLite ``WITHOUT ROWID`` table, so the
  primary key is the table and a bucket lookup is one B-tree descent.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("text", migrations="paperchain_text:migrations")

meta = SCHEMA.table(
    "text_minhash_meta",
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
signatures = SCHEMA.table(
    "text_minhash",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Text, nullable=False, unique=True),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)
buckets = SCHEMA.table(
    "text_lsh_buckets",
    sa.Column("bucket", sa.BigInteger, nullable=False),  # a 63-bit band key (minhash_kernel.band_keys)
    sa.Column("doc", sa.Integer, nullable=False),  # text_minhash.id
    sa.PrimaryKeyConstraint("bucket", "doc"),
    sa.Index("text_lsh_buckets_doc", "doc"),
    sqlite_with_rowid=False,
)
