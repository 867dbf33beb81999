"""The AI plugin's tables in the deployment's plugin storage (SQLAlchemy Core, prefixed ``ai_``).

- ``ai_documents``: one row per embedded document: its tenant, the model and dimension its
  vectors came from, and how many chunks it has (0 for a document without text, so the backfill
  does not try it again). A row with another model than the deployment's is embedded again.
- ``ai_chunks``: one row per chunk: its text (for snippets), page, model, dimension and vector
  as float32 bytes (little-endian), the same column type (BLOB / BYTEA) on SQLite and PostgreSQL.
  Not ``real[]`` on PostgreSQL: search ranks in process over a per-tenant float32 matrix, and
  asyncpg hands an array back as Python floats (loading 20,000 x 384 vectors: 103 ms as bytes,
  1,221 ms as real[]), while an array column gives the server no nearest-neighbour search anyway.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("ai", migrations="paperchain_ai:migrations")

embedded = SCHEMA.table(
    "ai_documents",
    sa.Column("document_id", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),  # '' for the deployment-wide scope
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("embedded", sa.Float, nullable=False),  # Unix time
    sa.Index("ai_documents_model", "model"),
)
chunks = SCHEMA.table(
    "ai_chunks",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("page", sa.Integer, nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Index("ai_chunks_document", "document_id"),
    sa.Index("ai_chunks_model_tenant", "model", "tenant"),
)
