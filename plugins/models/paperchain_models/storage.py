"""The models plugin's tables, in the host's plugin storage (SQLite or PostgreSQL).

Created and changed only by the Alembic revisions in ``migrations/versions``; the first takes
over the tables the plugin made in the kernel's SQLite file before, rows kept.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("models", migrations="paperchain_models:migrations")


def _text(name: str, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


versions = SCHEMA.table(
    "models_versions",
    _text("tenant", ""), _text("name"), sa.Column("version", sa.Integer, nullable=False), _text("kind"),
    _text("task", ""), _text("sha256"), sa.Column("size", sa.BigInteger, nullable=False), _text("inputs"),
    _text("outputs"), _text("labels", "[]"), _text("metrics", "{}"), _text("training", "{}"), _text("created"),
    _text("created_by", ""), _text("stage", ""),
    sa.PrimaryKeyConstraint("tenant", "name", "version"),
)
stage_changes = SCHEMA.table(
    "models_stage_changes",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), _text("name"), _text("stage"),
    sa.Column("version", sa.Integer, nullable=False), sa.Column("previous", sa.Integer), _text("changed"),
    _text("changed_by", ""), sa.Column("undone", sa.Integer, nullable=False, server_default="0"), _text("tenant", ""),
    sqlite_autoincrement=True,
)
jobs = SCHEMA.table(
    "models_jobs",
    sa.Column("id", sa.Text, primary_key=True), _text("model"), _text("task"), _text("status"),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"), _text("message", ""),
    sa.Column("version", sa.Integer), sa.Column("error", sa.Text), _text("created"), sa.Column("finished", sa.Text),
    _text("created_by", ""), _text("tenant", ""),
)
interactions = SCHEMA.table(
    "models_interactions",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), _text("user"), _text("document"),
    _text("kind"), sa.Column("weight", sa.Float, nullable=False), _text("created"),
    sa.Index("models_interactions_user", "user"),
    sqlite_autoincrement=True,
)
