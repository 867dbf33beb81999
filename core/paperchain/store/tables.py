"""The kernel's tables in SQLAlchemy Core: one schema source for SQLite and PostgreSQL.

Every kernel table, column, key and index lives here on ``METADATA``, and the kernel's statements
are Core built from these tables (``kernel.sql``, the journal). The Alembic baseline
(``store/migrations``) creates this schema on PostgreSQL or a new SQLite file and stamps a SQLite
file that ``schema.py``'s older history brought to ``BASELINE_USER_VERSION``;
tests/store/test_kernel_tables.py reflects a database built by ``schema.migrate()`` and fails on any
difference, so the two cannot drift. A change to the schema is a new Alembic revision and a change
here (schema.py's history ends at its baseline). Tables created by a revision after the baseline are
named in ``AFTER_BASELINE``: the baseline and the comparison with schema.py leave them out.

Types are what the SQLite file holds, with a PostgreSQL equivalent: TEXT, INTEGER, REAL (double
precision on PostgreSQL, since times are epoch seconds), BLOB (bytea). JSON stays TEXT on both: the
kernel serializes and parses it in Python and compares documents' fields as strings, JSONB would
reorder keys and drop duplicates, and the few queries inside JSON (the analytics' triggers) are
per dialect anyway. Primary-key columns of the older tables are nullable, as the sqlite-utils DDL
made them (SQLite allows NULL in a non-integer key; PostgreSQL forces NOT NULL).

Not portable, kept per dialect: ``sqlite_only()`` (the run counts', search's and analytics'
triggers; the FTS5 tables are the search adapter's, ``search/fts5.py``) and ``POSTGRESQL_ONLY``
(their PL/pgSQL twins for the run counts and ``finding_terms``; search on PostgreSQL creates its own
tables, ``search/postgres.py``). tests/store/test_finding_terms.py holds both dialects' terms to the
same rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.types import UserDefinedType

# schema.migrate()'s version this file describes; a later SQLite migration needs an Alembic revision too.
BASELINE_USER_VERSION = 14

METADATA = sa.MetaData()


class _NoType(UserDefinedType):
    """A SQLite column declared without a type (no affinity: a value keeps the type it came with)."""

    cache_ok = True

    def get_col_spec(self, **_kw) -> str:
        return ""


TEXT = sa.Text()
INTEGER = sa.Integer()
REAL: sa.types.TypeEngine = sa.Double().with_variant(sa.REAL(), "sqlite")
BLOB = sa.LargeBinary()
ANY = sa.Text().with_variant(_NoType(), "sqlite")
# A rowid alias on SQLite (exactly "INTEGER PRIMARY KEY"), a 64-bit identity on PostgreSQL.
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _table(name: str, key: tuple[str, ...], columns: dict, *, not_null=(), defaults=None, **kw) -> sa.Table:
    """A table as sqlite-utils declared it: columns in order, nullable unless named in ``not_null``."""
    defaults = defaults or {}
    items: list = [sa.Column(column, type_, nullable=column not in not_null, server_default=defaults.get(column),
                             autoincrement=type_ is ROWID)
                   for column, type_ in columns.items()]
    if key:
        items.append(sa.PrimaryKeyConstraint(*key))
    return sa.Table(name, METADATA, *items, **kw)


def _index(table: sa.Table, *columns: str, unique: bool = False) -> sa.Index:
    """An index named as sqlite-utils names it: ``idx_<table>_<columns>``."""
    return sa.Index(f"idx_{table.name}_{'_'.join(columns)}", *(table.c[c] for c in columns), unique=unique)


documents = _table("documents", ("id",), {
    "id": TEXT, "name": TEXT, "media_type": TEXT, "size": INTEGER, "created": TEXT, "text": TEXT,
    "metadata": TEXT, "tags": TEXT, "deleted": TEXT, "deleted_by": TEXT, "created_by": TEXT, "tenant": TEXT,
    "sha256": TEXT})
_index(documents, "created")
_index(documents, "sha256", "tenant")
_index(documents, "media_type")
_index(documents, "size", "deleted")
_index(documents, "tenant", "deleted", "created", "size")
_index(documents, "tenant", "media_type")
_index(documents, "id", "deleted", "tenant", "created")

workflow_versions = _table("workflow_versions", ("hash",), {
    "hash": TEXT, "name": TEXT, "definition": TEXT, "created": TEXT, "created_by": TEXT})
_index(workflow_versions, "name", "created")

batches = _table("batches", ("id",), {
    "id": TEXT, "workflow": TEXT, "workflow_hash": TEXT, "status": TEXT, "created": TEXT, "finished": TEXT,
    "inputs": TEXT, "paths": TEXT, "total": INTEGER, "idempotency_key": TEXT, "source": TEXT,
    "created_by": TEXT, "tenant": TEXT})
_index(batches, "idempotency_key", unique=True)
_index(batches, "created")
_index(batches, "tenant", "created")

runs = _table("runs", ("id",), {
    "id": TEXT, "batch_id": TEXT, "seq": INTEGER, "kind": TEXT, "workflow": TEXT, "workflow_hash": TEXT,
    "document_id": TEXT, "source": TEXT, "status": TEXT, "inputs": TEXT, "created": TEXT, "started": TEXT,
    "finished": TEXT, "error": TEXT, "idempotency_key": TEXT})
_index(runs, "batch_id", "seq")
_index(runs, "status")
_index(runs, "idempotency_key", unique=True)
_index(runs, "workflow", "created")
_index(runs, "document_id")
_index(runs, "created", "id")
_index(runs, "status", "created", "id")
_index(runs, "status", "finished")

steps = _table("steps", ("run_id", "step_id"), {
    "run_id": TEXT, "step_id": TEXT, "uses": TEXT, "status": TEXT, "attempts": INTEGER, "outputs": TEXT,
    "error": TEXT, "error_detail": TEXT, "started": TEXT, "finished": TEXT, "idempotency_key": TEXT,
    "continued": INTEGER, "cached": INTEGER}, not_null={"cached"}, defaults={"cached": sa.text("0")})
_index(steps, "finished")

attempts = _table("attempts", ("run_id", "step_id", "attempt"), {
    "run_id": TEXT, "step_id": TEXT, "attempt": INTEGER, "status": TEXT, "started": TEXT, "finished": TEXT,
    "error": TEXT})

artifacts = _table("artifacts", ("run_id", "step_id", "name"), {
    "run_id": TEXT, "step_id": TEXT, "name": TEXT, "sha256": TEXT, "media_type": TEXT, "size": INTEGER,
    "document_id": TEXT, "created": TEXT})
_index(artifacts, "document_id")

findings = _table("findings", ("document_id", "analyzer"), {
    "document_id": TEXT, "analyzer": TEXT, "run_id": TEXT, "step_id": TEXT, "data": TEXT, "summary": TEXT,
    "created": TEXT})
_index(findings, "analyzer", "created")

events = _table("events", ("seq",), {"seq": ROWID, "type": TEXT, "subject": TEXT, "time": TEXT, "data": TEXT})
_index(events, "type", "time")

workflows = _table("workflows", ("tenant", "name"), {
    "tenant": TEXT, "name": TEXT, "hash": TEXT, "enabled": INTEGER, "created": TEXT, "updated": TEXT,
    "created_by": TEXT, "origin": TEXT}, not_null={"tenant", "name"})

workflow_history = _table("workflow_history", ("tenant", "name", "hash"), {
    "tenant": TEXT, "name": TEXT, "hash": TEXT, "created": TEXT, "created_by": TEXT},
    not_null={"tenant", "name", "hash"})

workflow_shares = _table("workflow_shares", ("owner", "name", "tenant"), {
    "owner": TEXT, "name": TEXT, "tenant": TEXT, "created": TEXT, "created_by": TEXT},
    not_null={"owner", "name", "tenant"})

users = _table("users", ("name",), {
    "name": TEXT, "password_hash": TEXT, "role": TEXT, "tenant": TEXT, "created": TEXT, "disabled": INTEGER})

api_keys = _table("api_keys", ("id",), {
    "id": TEXT, "secret_hash": TEXT, "name": TEXT, "owner": TEXT, "role": TEXT, "scopes": TEXT,
    "created": TEXT, "last_used": TEXT, "revoked": TEXT, "expires": TEXT})

refresh_tokens = _table("refresh_tokens", ("id",), {
    "id": TEXT, "owner": TEXT, "created": TEXT, "expires": TEXT, "revoked": TEXT})

audit = _table("audit", ("id",), {
    "id": ROWID, "time": TEXT, "actor": TEXT, "action": TEXT, "target": TEXT, "ip": TEXT, "outcome": TEXT,
    "status": INTEGER, "details": TEXT, "tenant": TEXT, "entry": TEXT})
_index(audit, "time")
_index(audit, "entry", unique=True)
_index(audit, "tenant", "id")

step_logs = _table("step_logs", ("run_id", "step_id", "attempt", "seq"), {
    "run_id": TEXT, "step_id": TEXT, "attempt": INTEGER, "seq": INTEGER, "time": TEXT, "level": TEXT,
    "message": TEXT})

blob_keys = _table("blob_keys", ("tenant", "purpose", "version"), {
    "tenant": TEXT, "purpose": TEXT, "version": INTEGER, "wrapped": BLOB, "master": TEXT, "created": TEXT})

store_settings = _table("store_settings", ("name",), {"name": TEXT, "value": TEXT})

login_failures = _table("login_failures", ("key",), {
    "key": TEXT, "failures": INTEGER, "window_start": REAL, "last_failure": REAL, "locked_until": REAL})

ip_blocks = _table("ip_blocks", ("network",), {
    "network": TEXT, "reason": TEXT, "created": TEXT, "created_by": TEXT, "expires": REAL})

user_mfa = _table("user_mfa", ("user",), {
    "user": TEXT, "secret": TEXT, "confirmed": TEXT, "last_step": INTEGER, "recovery": TEXT, "created": TEXT})

web_sessions = _table("web_sessions", ("id",), {
    "id": TEXT, "user": TEXT, "csrf": TEXT, "created": REAL, "expires": REAL, "last_seen": REAL,
    "revoked": REAL, "ip": TEXT, "credential": TEXT})
_index(web_sessions, "user")

thumbnails = _table("thumbnails", ("document_id",), {"document_id": TEXT, "blob": TEXT, "created": TEXT})

step_cache = _table("step_cache", ("tenant", "key"), {
    "tenant": TEXT, "key": TEXT, "component": TEXT, "version": TEXT, "outputs": TEXT, "artifacts": TEXT,
    "document_update": TEXT, "findings": TEXT, "source_run": TEXT, "source_step": TEXT, "created": REAL},
    not_null={"tenant", "key"})
_index(step_cache, "created")

run_counts = _table("run_counts", ("tenant", "workflow", "status"), {
    "tenant": TEXT, "workflow": TEXT, "status": TEXT, "n": INTEGER},
    not_null={"tenant", "workflow", "status", "n"}, sqlite_with_rowid=False)

# No key: a finding's rows are replaced whole by the triggers. ``kind`` and ``term`` keep JSON's types on SQLite.
finding_terms = _table("finding_terms", (), {
    "document_id": TEXT, "analyzer": TEXT, "created": TEXT, "kind": ANY, "term": ANY},
    not_null={"document_id", "analyzer"})
_index(finding_terms, "analyzer", "created", "kind", "term", "document_id")
_index(finding_terms, "document_id", "analyzer")

# Rows a new database starts with (schema._v3: blob encryption is on for a fresh data directory).
INITIAL_ROWS = {store_settings: [{"name": "encrypt_blobs", "value": "1"}]}

# --- After the baseline: each table names the Alembic revision that creates it ---

# One step attempt sent to a Celery worker (engine/celery): the database holds the truth, the broker
# only wakes a worker. ``fence`` grows at every claim; a write that names an older fence is refused.
step_attempts = _table("step_attempts", ("id",), {
    "id": TEXT, "run_id": TEXT, "step_id": TEXT, "attempt": INTEGER, "tenant": TEXT, "component": TEXT,
    "method": TEXT, "queue": TEXT, "payload": TEXT, "state": TEXT, "fence": INTEGER, "worker": TEXT,
    "lease_until": REAL, "result": TEXT, "error": TEXT, "error_detail": TEXT, "retryable": INTEGER,
    "timeout": REAL, "created": REAL, "claimed": REAL, "finished": REAL, "sends": INTEGER},
    not_null={"id", "fence", "sends"}, defaults={"fence": sa.text("0"), "sends": sa.text("0")})
_index(step_attempts, "state", "lease_until")
_index(step_attempts, "run_id")

# The processes of a deployment: ``serve`` (API servers) and ``worker`` (Celery workers), with their plugins.
members = _table("members", ("id",), {
    "id": TEXT, "kind": TEXT, "host": TEXT, "pid": INTEGER, "address": TEXT, "queues": TEXT, "plugins": TEXT,
    "started": REAL, "heartbeat": REAL, "stopped": REAL}, not_null={"id"})

# Named leases across servers (the triggers' leader, a batch's owner), fenced like step attempts.
leases = _table("leases", ("name",), {"name": TEXT, "holder": TEXT, "fence": INTEGER, "until": REAL},
                not_null={"name", "fence"}, defaults={"fence": sa.text("0")})

# Counters handed out in blocks across servers (the events' sequence numbers).
counters = _table("counters", ("name",), {"name": TEXT, "value": INTEGER}, not_null={"name", "value"})

AFTER_BASELINE = {"step_attempts": "0002", "members": "0002", "leases": "0002", "counters": "0002"}


def baseline_tables() -> list[sa.Table]:
    """The tables revision 0001 creates (schema.py's history ends with exactly these)."""
    return [table for name, table in METADATA.tables.items() if name not in AFTER_BASELINE]


def added_by(revision: str) -> list[sa.Table]:
    """The tables a revision after the baseline creates."""
    return [METADATA.tables[name] for name, added in AFTER_BASELINE.items() if added == revision]


# --- Per dialect: what Core cannot express portably (statements run after METADATA.create_all) ---

_RUN_KEY = "coalesce((SELECT tenant FROM batches WHERE id = {r}.batch_id), ''), coalesce({r}.workflow, ''), coalesce({r}.status, '')"
_RUN_ADD = ("INSERT INTO run_counts (tenant, workflow, status, n) VALUES (" + _RUN_KEY.format(r="NEW")
            + ", 1) ON CONFLICT (tenant, workflow, status) DO UPDATE SET n = {n} + 1;")
_RUN_TAKE = "UPDATE run_counts SET n = n - 1 WHERE (tenant, workflow, status) = (" + _RUN_KEY.format(r="OLD") + ");"

# SQLite: REPLACE removes rows without a delete trigger, so a BEFORE INSERT trigger uncounts them first:
# the row of the same id, then another of the same idempotency key (schema._v12).
_RUN_GONE = ("UPDATE run_counts SET n = n - 1 WHERE (tenant, workflow, status) = (SELECT coalesce(b.tenant, ''), "
             "coalesce(r.workflow, ''), coalesce(r.status, '') FROM runs r LEFT JOIN batches b ON b.id = r.batch_id "
             "WHERE {match});")
_SQLITE_RUN_COUNTS = (
    "CREATE TRIGGER run_counts_replace BEFORE INSERT ON runs BEGIN "
    + " ".join(_RUN_GONE.format(match=m) for m in ("r.id = NEW.id", ("r.idempotency_key = NEW.idempotency_key "
                                                                    "AND r.id != NEW.id"))) + " END",
    f"CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN {_RUN_ADD.format(n='n')} END",
    ("CREATE TRIGGER run_counts_update AFTER UPDATE OF batch_id, workflow, status ON runs WHEN OLD.status IS NOT "
    "NEW.status OR OLD.workflow IS NOT NEW.workflow OR OLD.batch_id IS NOT NEW.batch_id "
    f"BEGIN {_RUN_TAKE} {_RUN_ADD.format(n='n')} END"),
    f"CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN {_RUN_TAKE} END",
)

_SEARCH_DROP = ("DELETE FROM search_fts WHERE rowid = (SELECT rowid FROM search_documents WHERE document_id = {d}.id); "
                "DELETE FROM search_documents WHERE document_id = {d}.id;")
_SEARCH_ADD = ("INSERT INTO search_documents (document_id, tenant) SELECT NEW.id, coalesce(NEW.tenant, '') WHERE "
               "NEW.deleted IS NULL; INSERT INTO search_fts (rowid, name, text) SELECT rowid, NEW.name, "
               "coalesce(NEW.text, '') FROM search_documents WHERE document_id = NEW.id AND NEW.deleted IS NULL;")
# The FTS5 tables themselves are the search adapter's (search/fts5.py TABLES); these keep them current (schema._v13).
_SQLITE_SEARCH = (
    (f"CREATE TRIGGER search_documents_insert AFTER INSERT ON documents BEGIN {_SEARCH_DROP.format(d='NEW')} "
    f"{_SEARCH_ADD} END"),
    ("CREATE TRIGGER search_documents_update AFTER UPDATE OF id, tenant, name, text, deleted ON documents WHEN "
    "OLD.id IS NOT NEW.id OR OLD.tenant IS NOT NEW.tenant OR OLD.name IS NOT NEW.name OR OLD.text IS NOT "
    f"NEW.text OR OLD.deleted IS NOT NEW.deleted BEGIN {_SEARCH_DROP.format(d='OLD')} "
    f"{_SEARCH_DROP.format(d='NEW')} {_SEARCH_ADD} END"),
    f"CREATE TRIGGER search_documents_delete AFTER DELETE ON documents BEGIN {_SEARCH_DROP.format(d='OLD')} END",
)

# The analytics' terms from a finding ``f`` (schema._v14), with SQLite's JSON functions.
_TERMS = (
    ("SELECT DISTINCT f.document_id, f.analyzer, f.created, '', lower(CASE WHEN k.type = 'object' THEN "
    "json_extract(k.value, '$.keyword') END) AS term FROM {f} f, json_each(f.data, '$.keywords') k "
    "WHERE f.analyzer = 'text.keywords' AND term IS NOT NULL"),
    ("SELECT DISTINCT f.document_id, f.analyzer, f.created, e.key, CASE WHEN i.type = 'object' THEN "
    "json_extract(i.value, '$.text') END AS term FROM {f} f, json_each(f.data) e, "
    "json_each(CASE WHEN e.type = 'array' THEN e.value ELSE '[]' END) i "
    "WHERE f.analyzer = 'text.entities' AND term IS NOT NULL"),
    ("SELECT f.document_id, f.analyzer, f.created, '', coalesce(json_extract(f.data, '$.language'), '') "
    "FROM {f} f WHERE f.analyzer = 'text.language' AND f.data IS NOT NULL"),
    ("SELECT f.document_id, f.analyzer, f.created, '', '' FROM {f} f "
    "WHERE f.analyzer = 'text.near_duplicates' AND json_array_length(f.data, '$.duplicates') > 0"),
)
_FINDING = ("(SELECT NEW.document_id AS document_id, NEW.analyzer AS analyzer, NEW.created AS created, "
            "CASE WHEN json_valid(NEW.data) THEN NEW.data END AS data)")
_TERMS_DROP = "DELETE FROM finding_terms WHERE document_id = {r}.document_id AND analyzer = {r}.analyzer;"
_TERMS_ADD = " ".join(f"INSERT INTO finding_terms {select.format(f=_FINDING)};" for select in _TERMS)
_SQLITE_TERMS = (
    ("CREATE TRIGGER finding_terms_insert AFTER INSERT ON findings WHEN NEW.analyzer IN ('text.keywords', "
    "'text.entities', 'text.language', 'text.near_duplicates') "
    f"BEGIN {_TERMS_DROP.format(r='NEW')} {_TERMS_ADD} END"),
    ("CREATE TRIGGER finding_terms_update AFTER UPDATE ON findings "
    f"BEGIN {_TERMS_DROP.format(r='OLD')} {_TERMS_DROP.format(r='NEW')} {_TERMS_ADD} END"),
    f"CREATE TRIGGER finding_terms_delete AFTER DELETE ON findings BEGIN {_TERMS_DROP.format(r='OLD')} END",
)


def sqlite_only() -> tuple[str, ...]:
    """SQLite's own statements: the search adapter's FTS5 tables, then every trigger."""
    from .search.fts5 import TABLES

    return (*TABLES, *_SQLITE_RUN_COUNTS, *_SQLITE_SEARCH, *_SQLITE_TERMS)


_ANALYZERS = "('text.keywords', 'text.entities', 'text.language', 'text.near_duplicates')"

# PostgreSQL's twin of _SQLITE_TERMS: the same rows from jsonb. ``finding_terms_items`` walks a
# value as SQLite's json_each does (an object's values by key, an array's items by index, nothing
# else that matters here: a scalar's one row is never an object); the finding's text that is not
# JSON counts as nothing, as json_valid() makes it on SQLite. A term that is not a JSON string is
# its JSON text on both (SQLite keeps a number's type in the untyped column; PostgreSQL's is TEXT).
_POSTGRESQL_TERMS = (
    ("CREATE FUNCTION finding_terms_items(j jsonb) RETURNS TABLE (key text, value jsonb) LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT e.key, e.value FROM jsonb_each(CASE WHEN jsonb_typeof(j) = 'object' THEN j ELSE '{}' END) e "
    "UNION ALL SELECT (a.n - 1)::text, a.v FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j) = 'array' THEN j "
    "ELSE '[]' END) WITH ORDINALITY AS a(v, n) $$"),
    ("CREATE FUNCTION finding_terms_change() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE data jsonb; BEGIN "
    "IF TG_OP <> 'INSERT' THEN "
    "DELETE FROM finding_terms WHERE document_id = OLD.document_id AND analyzer = OLD.analyzer; END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN NULL; END IF; "
    "DELETE FROM finding_terms WHERE document_id = NEW.document_id AND analyzer = NEW.analyzer; "
    "BEGIN data := NEW.data::jsonb; EXCEPTION WHEN others THEN data := NULL; END; "
    "IF NEW.analyzer = 'text.keywords' THEN "
    "INSERT INTO finding_terms (document_id, analyzer, created, kind, term) SELECT DISTINCT NEW.document_id, "
    "NEW.analyzer, NEW.created, '', lower(k.value ->> 'keyword') FROM finding_terms_items(data -> 'keywords') k "
    "WHERE jsonb_typeof(k.value) = 'object' AND k.value ->> 'keyword' IS NOT NULL; "
    "ELSIF NEW.analyzer = 'text.entities' THEN "
    "INSERT INTO finding_terms (document_id, analyzer, created, kind, term) SELECT DISTINCT NEW.document_id, "
    "NEW.analyzer, NEW.created, e.key, i.value ->> 'text' FROM finding_terms_items(data) e, "
    "finding_terms_items(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value END) i "
    "WHERE jsonb_typeof(i.value) = 'object' AND i.value ->> 'text' IS NOT NULL; "
    "ELSIF NEW.analyzer = 'text.language' AND data IS NOT NULL THEN "
    "INSERT INTO finding_terms (document_id, analyzer, created, kind, term) VALUES (NEW.document_id, "
    "NEW.analyzer, NEW.created, '', coalesce(data ->> 'language', '')); "
    "ELSIF NEW.analyzer = 'text.near_duplicates' AND jsonb_typeof(data -> 'duplicates') = 'array' "
    "AND jsonb_array_length(data -> 'duplicates') > 0 THEN "
    "INSERT INTO finding_terms (document_id, analyzer, created, kind, term) VALUES (NEW.document_id, "
    "NEW.analyzer, NEW.created, '', ''); "
    "END IF; RETURN NULL; END $$"),
    (f"CREATE TRIGGER finding_terms_insert AFTER INSERT ON findings FOR EACH ROW WHEN (NEW.analyzer IN {_ANALYZERS}) "
    "EXECUTE FUNCTION finding_terms_change()"),
    "CREATE TRIGGER finding_terms_update AFTER UPDATE ON findings FOR EACH ROW EXECUTE FUNCTION finding_terms_change()",
    "CREATE TRIGGER finding_terms_delete AFTER DELETE ON findings FOR EACH ROW EXECUTE FUNCTION finding_terms_change()",
)

# PostgreSQL: an upsert fires UPDATE triggers on conflict (no REPLACE), so no BEFORE INSERT trigger is needed.
POSTGRESQL_ONLY = (
    ("CREATE FUNCTION run_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP <> 'INSERT' THEN {_RUN_TAKE} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_RUN_ADD.format(n='run_counts.n')} END IF; RETURN NULL; END $$"),
    "CREATE TRIGGER run_counts_insert AFTER INSERT ON runs FOR EACH ROW EXECUTE FUNCTION run_counts_change()",
    ("CREATE TRIGGER run_counts_update AFTER UPDATE OF batch_id, workflow, status ON runs FOR EACH ROW WHEN "
    "(OLD.status IS DISTINCT FROM NEW.status OR OLD.workflow IS DISTINCT FROM NEW.workflow OR OLD.batch_id IS "
    "DISTINCT FROM NEW.batch_id) EXECUTE FUNCTION run_counts_change()"),
    "CREATE TRIGGER run_counts_delete AFTER DELETE ON runs FOR EACH ROW EXECUTE FUNCTION run_counts_change()",
    *_POSTGRESQL_TERMS,
)
