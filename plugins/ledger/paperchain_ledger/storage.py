"""The ledger's tables (SQLAlchemy Core) in a database of its own (``own_database=True``): its group
commits, one fsync each, never queue behind the kernel's journal, on SQLite (``<data_dir>/ledger/
ledger.db``, the file the ledger always used) or PostgreSQL (schema ``ledger``).

Who appended an entry is kept beside the tree (``ledger_owners``), never in the hashed entry bytes,
so entries and proofs made before tenants stay valid: a row per entry a tenant appended; an entry
without one (the operator's, and every entry made before tenants) belongs to the no-tenant scope.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

SCHEMA = PluginSchema("ledger", migrations="paperchain_ledger:migrations", own_database=True)

# Indexes and sizes reach 2**48 and beyond: BIGINT on PostgreSQL; on SQLite a primary key of type
# INTEGER is the rowid itself (no second index), as the tables were before Alembic.
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _int(name: str, **kw) -> sa.Column:
    return sa.Column(name, BIG, nullable=False, **kw)


meta = SCHEMA.table("ledger_meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
bundles = SCHEMA.table("ledger_bundles", _int("idx", primary_key=True, autoincrement=False),
                       sa.Column("data", sa.LargeBinary, nullable=False))
tiles = SCHEMA.table("ledger_tiles", _int("id", primary_key=True, autoincrement=False),
                     sa.Column("level", sa.Integer, nullable=False), _int("idx"),
                     sa.Column("width", sa.Integer, nullable=False), sa.Column("hashes", sa.LargeBinary, nullable=False))
checkpoints = SCHEMA.table("ledger_checkpoints", _int("size", primary_key=True, autoincrement=False),
                           sa.Column("root", sa.LargeBinary, nullable=False), sa.Column("note", sa.Text, nullable=False),
                           sa.Column("time", sa.Text, nullable=False))
keys = SCHEMA.table("ledger_keys", sa.Column("key", sa.Text, primary_key=True), _int("idx"))
documents = SCHEMA.table("ledger_documents", sa.Column("sha256", sa.Text, primary_key=True),
                         _int("idx", primary_key=True, autoincrement=False), sqlite_with_rowid=False)
accounts = SCHEMA.table(
    "ledger_accounts", sa.Column("id", sa.Text, primary_key=True), sa.Column("name", sa.Text, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False), sa.Column("secret", sa.Text),
    _int("balance", server_default="0"), _int("nonce", server_default="0"), _int("idx"),
    sa.Column("created", sa.Text, nullable=False), sa.Column("tenant", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("balance >= 0", name="ledger_accounts_balance"),
    sa.UniqueConstraint("tenant", "name", name="ledger_accounts_tenant_name"),
)
votes = SCHEMA.table("ledger_votes", sa.Column("ballot", sa.Text, primary_key=True),
                     sa.Column("account", sa.Text, primary_key=True), sa.Column("choice", sa.Text, nullable=False),
                     _int("idx"), sqlite_with_rowid=False)
anchors = SCHEMA.table("ledger_anchors", sa.Column("audit_id", sa.Text, primary_key=True), _int("idx"))
owners = SCHEMA.table("ledger_owners", _int("idx", primary_key=True, autoincrement=False),
                      sa.Column("tenant", sa.Text, nullable=False))
