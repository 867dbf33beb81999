"""The registry, stage changes, training jobs and interactions tables.

Takes over the SQLite tables the plugin made itself before plugin storage, rows kept; tables made
before tenants gain ``tenant`` (every existing row is the deployment's, ``''``), and
``models_versions`` is rebuilt since its primary key gains it.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_VERSION_COLUMNS = ("name", "version", "kind", "task", "sha256", "size", "inputs", "outputs", "labels", "metrics",
                    "training", "created", "created_by", "stage")


def _text(name, default=None):
    return sa.Column(name, sa.Text, nullable=False, server_default=default)


def _create_versions(name):
    op.create_table(
        name,
        _text("tenant", ""), _text("name"), sa.Column("version", sa.Integer, nullable=False), _text("kind"),
        _text("task", ""), _text("sha256"), sa.Column("size", sa.BigInteger, nullable=False), _text("inputs"),
        _text("outputs"), _text("labels", "[]"), _text("metrics", "{}"), _text("training", "{}"), _text("created"),
        _text("created_by", ""), _text("stage", ""),
        sa.PrimaryKeyConstraint("tenant", "name", "version"),
    )


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    def columns(table):
        return {column["name"] for column in inspector.get_columns(table)}

    if "models_versions" not in tables:
        _create_versions("models_versions")
    elif "tenant" not in columns("models_versions"):
        op.rename_table("models_versions", "models_versions_before_tenants")
        _create_versions("models_versions")
        listed = ", ".join(_VERSION_COLUMNS)
        op.execute(f"INSERT INTO models_versions (tenant, {listed}) SELECT '', {listed} FROM models_versions_before_tenants")
        op.drop_table("models_versions_before_tenants")

    if "models_stage_changes" not in tables:
        op.create_table(
            "models_stage_changes",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), _text("name"), _text("stage"),
            sa.Column("version", sa.Integer, nullable=False), sa.Column("previous", sa.Integer), _text("changed"),
            _text("changed_by", ""), sa.Column("undone", sa.Integer, nullable=False, server_default="0"),
            _text("tenant", ""),
            sqlite_autoincrement=True,
        )
    if "models_jobs" not in tables:
        op.create_table(
            "models_jobs",
            sa.Column("id", sa.Text, primary_key=True), _text("model"), _text("task"), _text("status"),
            sa.Column("progress", sa.Float, nullable=False, server_default="0"), _text("message", ""),
            sa.Column("version", sa.Integer), sa.Column("error", sa.Text), _text("created"),
            sa.Column("finished", sa.Text), _text("created_by", ""), _text("tenant", ""),
        )
    for table in ("models_stage_changes", "models_jobs"):
        if table in tables and "tenant" not in columns(table):
            op.add_column(table, _text("tenant", ""))

    if "models_interactions" not in tables:
        op.create_table(
            "models_interactions",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), _text("user"), _text("document"),
            _text("kind"), sa.Column("weight", sa.Float, nullable=False), _text("created"),
            sqlite_autoincrement=True,
        )
    indexes = {index["name"] for index in inspector.get_indexes("models_interactions")} \
        if "models_interactions" in tables else set()
    if "models_interactions_user" not in indexes:
        op.create_index("models_interactions_user", "models_interactions", ["user"])
