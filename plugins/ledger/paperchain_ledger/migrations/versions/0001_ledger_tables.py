"""The log's tables: tree (bundles, tiles, checkpoints) and side tables (keys, documents, accounts,
votes, anchors, owners).

Takes over a ledger.db the log made itself before Alembic, rows kept: a table already there is
checked to have every column and kept; accounts made before tenants (names unique in the whole
log) are rebuilt once with ``tenant`` ('' for their rows: the no-tenant scope).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _int(name, **kw):
    return sa.Column(name, BIG, nullable=False, **kw)


def _key(name):
    return _int(name, primary_key=True, autoincrement=False)


def _text(name, **kw):
    return sa.Column(name, sa.Text, nullable=False, **kw)


def _blob(name):
    return sa.Column(name, sa.LargeBinary, nullable=False)


def _accounts(name="ledger_accounts"):
    return (name, sa.Column("id", sa.Text, primary_key=True), _text("name"), _blob("public_key"),
            sa.Column("secret", sa.Text), _int("balance", server_default="0"), _int("nonce", server_default="0"),
            _int("idx"), _text("created"), _text("tenant", server_default=""),
            sa.CheckConstraint("balance >= 0", name="ledger_accounts_balance"),
            sa.UniqueConstraint("tenant", "name", name="ledger_accounts_tenant_name"))


def _tables():
    return [
        ("ledger_meta", sa.Column("key", sa.Text, primary_key=True), _text("value")),
        ("ledger_bundles", _key("idx"), _blob("data")),
        ("ledger_tiles", _key("id"), sa.Column("level", sa.Integer, nullable=False), _int("idx"),
         sa.Column("width", sa.Integer, nullable=False), _blob("hashes")),
        ("ledger_checkpoints", _key("size"), _blob("root"), _text("note"), _text("time")),
        ("ledger_keys", sa.Column("key", sa.Text, primary_key=True), _int("idx")),
        ("ledger_documents", sa.Column("sha256", sa.Text, primary_key=True), _key("idx"), {"sqlite_with_rowid": False}),
        _accounts(),
        ("ledger_votes", sa.Column("ballot", sa.Text, primary_key=True), sa.Column("account", sa.Text, primary_key=True),
         _text("choice"), _int("idx"), {"sqlite_with_rowid": False}),
        ("ledger_anchors", sa.Column("audit_id", sa.Text, primary_key=True), _int("idx")),
        ("ledger_owners", _key("idx"), _text("tenant")),
    ]


def _create(name, *items):
    options = items[-1] if items and isinstance(items[-1], dict) else {}
    columns = [item for item in items if not isinstance(item, dict)]
    op.create_table(name, *columns, **options)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, *items in _tables():
        if name not in present:
            _create(name, *items)
            continue
        have = {column["name"] for column in inspector.get_columns(name)}
        want = {item.name for item in items if isinstance(item, sa.Column)}
        if name == "ledger_accounts" and want - have == {"tenant"}:
            _add_tenants()
        elif want - have:
            raise RuntimeError(f"the ledger's existing table {name} lacks column(s) {', '.join(sorted(want - have))}: "
                               "it is not a ledger this version knows; run `paperchain ledger verify` on a copy")


def _add_tenants() -> None:
    """Before tenants, account names were unique in the whole log; now per tenant (table rebuilt)."""
    op.rename_table("ledger_accounts", "ledger_accounts_before_tenants")
    _create(*_accounts())
    op.execute("INSERT INTO ledger_accounts (id, name, public_key, secret, balance, nonce, idx, created) "
               "SELECT id, name, public_key, secret, balance, nonce, idx, created FROM ledger_accounts_before_tenants")
    op.drop_table("ledger_accounts_before_tenants")
