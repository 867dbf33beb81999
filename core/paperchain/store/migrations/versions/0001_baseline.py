"""The kernel's baseline: every table, index and trigger of store/tables.py (schema.py's user_version 14)
but the tables a later revision adds (``tables.AFTER_BASELINE``)."""

import sqlalchemy as sa
from alembic import op

from paperchain.store import tables

revision = "0001"
down_revision = None


def upgrade():
    bind = op.get_bind()
    tables.METADATA.create_all(bind, tables=tables.baseline_tables())
    ddl = tables.sqlite_only() if bind.dialect.name == "sqlite" else tables.POSTGRESQL_ONLY
    for statement in ddl:
        bind.exec_driver_sql(statement)  # not text(): no bind parameters to parse in trigger bodies
    for table, rows in tables.INITIAL_ROWS.items():
        bind.execute(sa.insert(table), rows)
    if bind.dialect.name == "sqlite":  # schema.migrate() then sees the file as current, not as empty
        bind.exec_driver_sql(f"PRAGMA user_version = {tables.BASELINE_USER_VERSION}")
