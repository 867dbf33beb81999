"""The SQLite schema's history before Alembic, in code with sqlite-utils.

Each entry of MIGRATIONS upgrades the schema by one version (kept in ``PRAGMA user_version``), so a
data directory made by an older Paperchain is brought up to version 14 on open
(``migrate_existing``); from there store/migrations (Alembic) takes over on SQLite and PostgreSQL
alike, and a new database is created by its baseline, not here. This history ends: a schema change
is an Alembic revision. Inspect any table with the ``sqlite-utils`` command line, e.g.
``sqlite-utils rows .paperchain/paperchain.db runs``.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("documents").create(
        {"id": str, "name": str, "media_type": str, "size": int, "created": str,
         "text": str, "metadata": str, "tags": str, "deleted": str},
        pk="id",
    )
    db.table("documents").enable_fts(["name", "text"], create_triggers=True, tokenize="porter")
    db.table("workflow_versions").create({"hash": str, "name": str, "definition": str, "created": str}, pk="hash")
    db.table("batches").create(
        {"id": str, "workflow": str, "workflow_hash": str, "status": str, "created": str,
         "finished": str, "inputs": str, "paths": str, "total": int},
        pk="id",
    )
    db.table("runs").create(
        {"id": str, "batch_id": str, "seq": int, "kind": str, "workflow": str, "workflow_hash": str,
         "document_id": str, "source": str, "status": str, "inputs": str, "created": str,
         "started": str, "finished": str, "error": str, "idempotency_key": str},
        pk="id",
    )
    db.table("runs").create_index(["batch_id", "seq"])
    db.table("runs").create_index(["status"])
    db.table("runs").create_index(["idempotency_key"], unique=True)
    db.table("steps").create(
        {"run_id": str, "step_id": str, "uses": str, "status": str, "attempts": int,
         "outputs": str, "error": str, "error_detail": str, "started": str, "finished": str,
         "idempotency_key": str, "continued": int},
        pk=("run_id", "step_id"),
    )
    db.table("attempts").create(
        {"run_id": str, "step_id": str, "attempt": int, "status": str, "started": str,
         "finished": str, "error": str},
        pk=("run_id", "step_id", "attempt"),
    )
    db.table("artifacts").create(
        {"run_id": str, "step_id": str, "name": str, "sha256": str, "media_type": str,
         "size": int, "document_id": str, "created": str},
        pk=("run_id", "step_id", "name"),
    )
    db.table("artifacts").create_index(["document_id"])
    db.table("findings").create(
        {"document_id": str, "analyzer": str, "run_id": str, "step_id": str, "data": str,
         "summary": str, "created": str},
        pk=("document_id", "analyzer"),
    )
    db.table("events").create({"seq": int, "type": str, "subject": str, "time": str, "data": str}, pk="seq")


def _v2(db: sqlite_utils.Database) -> None:
    """The API: saved workflows, users, keys, the audit log, step logs, idempotent batches."""
    db.table("batches").add_column("idempotency_key", str)
    db.table("batches").add_column("source", str)
    db.table("batches").add_column("created_by", str)
    db.table("batches").create_index(["idempotency_key"], unique=True)
    db.table("batches").create_index(["created"])
    db.table("runs").create_index(["workflow", "created"])
    db.table("runs").create_index(["document_id"])
    db.table("documents").add_column("deleted_by", str)
    db.table("documents").add_column("created_by", str)
    db.table("documents").add_column("tenant", str)
    db.table("documents").create_index(["created"])
    db.table("workflows").create(
        {"name": str, "hash": str, "enabled": int, "created": str, "updated": str, "created_by": str,
         "origin": str, "tenant": str},
        pk="name",
    )
    db.table("workflow_versions").add_column("created_by", str)
    db.table("workflow_versions").create_index(["name", "created"])
    db.table("users").create(
        {"name": str, "password_hash": str, "role": str, "tenant": str, "created": str, "disabled": int},
        pk="name",
    )
    db.table("api_keys").create(
        {"id": str, "secret_hash": str, "name": str, "owner": str, "role": str, "scopes": str,
         "created": str, "last_used": str, "revoked": str, "expires": str},
        pk="id",
    )
    db.table("refresh_tokens").create(
        {"id": str, "owner": str, "created": str, "expires": str, "revoked": str}, pk="id",
    )
    db.table("audit").create(
        {"id": int, "time": str, "actor": str, "action": str, "target": str, "ip": str,
         "outcome": str, "status": int, "details": str},
        pk="id",
    )
    db.table("audit").create_index(["time"])
    db.table("step_logs").create(
        {"run_id": str, "step_id": str, "attempt": int, "seq": int, "time": str, "level": str, "message": str},
        pk=("run_id", "step_id", "attempt", "seq"),
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Tenant-scoped documents and blob keys (issue 13).

    A document's id is now keyed per tenant; its content's SHA-256 gets its own column (existing
    documents keep their ids, which were that digest). Blob encryption starts on for a new data
    directory and off for one that already holds blobs, until ``paperchain keys encrypt-existing``.
    """
    db.table("documents").add_column("sha256", str)
    db.execute("UPDATE documents SET sha256 = id")
    db.table("documents").create_index(["sha256", "tenant"])
    db.table("blob_keys").create(
        {"tenant": str, "purpose": str, "version": int, "wrapped": bytes, "master": str, "created": str},
        pk=("tenant", "purpose", "version"),
    )
    fresh = not db.table("documents").count and not db.table("artifacts").count
    db.table("store_settings").create({"name": str, "value": str}, pk="name")
    db.table("store_settings").insert({"name": "encrypt_blobs", "value": "1" if fresh else "0"})


def _v4(db: sqlite_utils.Database) -> None:
    """Tenant-scoped workflows, shared explicitly by an admin (issue 13).

    A workflow is keyed by (tenant, name), '' being the deployment-wide scope, so two tenants may
    each have one of the same name; existing workflows stay in the '' scope. Each scope keeps its
    own version history (``workflow_history``: the content-addressed ``workflow_versions`` may be
    shared by equal definitions of two tenants). A batch records its tenant when it is created,
    so who may see a run never depends on a user list that can change; existing batches take
    their creator's tenant as it is now.
    """
    db.execute("ALTER TABLE workflows RENAME TO workflows_v3")
    db.table("workflows").create(
        {"tenant": str, "name": str, "hash": str, "enabled": int, "created": str, "updated": str,
         "created_by": str, "origin": str},
        pk=("tenant", "name"), not_null={"tenant", "name"},
    )
    db.execute("INSERT INTO workflows (tenant, name, hash, enabled, created, updated, created_by, origin) "
               "SELECT coalesce(tenant, ''), name, hash, enabled, created, updated, created_by, origin FROM workflows_v3")
    db.table("workflows_v3").drop()
    db.table("workflow_history").create(
        {"tenant": str, "name": str, "hash": str, "created": str, "created_by": str},
        pk=("tenant", "name", "hash"), not_null={"tenant", "name", "hash"},
    )
    db.execute("INSERT INTO workflow_history (tenant, name, hash, created, created_by) "
               "SELECT '', name, hash, created, created_by FROM workflow_versions")
    # Who besides its own tenant may read and run a workflow: a tenant's name, or '*' for all.
    db.table("workflow_shares").create(
        {"owner": str, "name": str, "tenant": str, "created": str, "created_by": str},
        pk=("owner", "name", "tenant"), not_null={"owner", "name", "tenant"},
    )
    # Workflows loaded from files are shared with every tenant to run, as they are when first loaded.
    db.execute("INSERT INTO workflow_shares (owner, name, tenant, created, created_by) "
               "SELECT '', name, '*', updated, 'files' FROM workflows WHERE created_by = 'files'")
    db.table("batches").add_column("tenant", str)
    db.execute("UPDATE batches SET tenant = coalesce((SELECT u.tenant FROM users u WHERE u.name = batches.created_by), '')")
    db.table("batches").create_index(["tenant", "created"])


def _v5(db: sqlite_utils.Database) -> None:
    """Account security: login throttling, IP blocks, second factors (issue 13)."""
    # One row per throttled account ('user:<name>') or address ('ip:<address>'); times are epoch seconds.
    db.table("login_failures").create(
        {"key": str, "failures": int, "window_start": float, "last_failure": float, "locked_until": float},
        pk="key",
    )
    db.table("ip_blocks").create(
        {"network": str, "reason": str, "created": str, "created_by": str, "expires": float}, pk="network",
    )
    # recovery: JSON list of [lookup prefix, argon2 hash] of the unused recovery codes.
    db.table("user_mfa").create(
        {"user": str, "secret": str, "confirmed": str, "last_step": int, "recovery": str, "created": str},
        pk="user",
    )


def _v6(db: sqlite_utils.Database) -> None:
    """Web UI sessions (issue 14): one row per login; ``id`` is SHA-256 of the cookie's secret."""
    db.table("web_sessions").create(
        {"id": str, "user": str, "csrf": str, "created": float, "expires": float, "last_seen": float,
         "revoked": float, "ip": str},
        pk="id",
    )
    db.table("web_sessions").create_index(["user"])


def _v7(db: sqlite_utils.Database) -> None:
    """Audit entries record the acting principal's tenant, and a unique entry key (issue 13).

    Ids are now given by SQLite when an entry is committed (see api/audit.py); the writer finds
    its entry's id by the key. Existing entries take their actor's tenant as it is now.
    """
    db.table("audit").add_column("tenant", str)
    db.table("audit").add_column("entry", str)
    db.execute("UPDATE audit SET tenant = coalesce((SELECT u.tenant FROM users u WHERE u.name = audit.actor), '')")
    db.table("audit").create_index(["entry"], unique=True)
    db.table("audit").create_index(["tenant", "id"])


def _v8(db: sqlite_utils.Database) -> None:
    """Web UI thumbnails (issue 14): a document's first page as a small PNG, kept in the blob store."""
    db.table("thumbnails").create({"document_id": str, "blob": str, "created": str}, pk="document_id")


def _v9(db: sqlite_utils.Database) -> None:
    """Runs newest first without sorting them all (the runs lists, by state too; the last day's counts),
    and the kinds of documents without reading every row (the documents page's filter)."""
    db.table("runs").create_index(["created", "id"])
    db.table("runs").create_index(["status", "created", "id"])
    db.table("documents").create_index(["media_type"])


def _v10(db: sqlite_utils.Database) -> None:
    """Web UI sessions remember which password they were opened with (a fingerprint of its hash),
    so changing the password ends every session opened before."""
    db.table("web_sessions").add_column("credential", str)


def _v11(db: sqlite_utils.Database) -> None:
    """The step-result cache (issue 15): a deterministic step's outputs and artifacts by cache key,
    per tenant (never shared across tenants); a step answered from it says ``cached``."""
    db.table("steps").add_column("cached", int, not_null_default=0)
    db.table("step_cache").create(
        {"tenant": str, "key": str, "component": str, "version": str, "outputs": str, "artifacts": str,
         "document_update": str, "findings": str, "source_run": str, "source_step": str, "created": float},
        pk=("tenant", "key"), not_null={"tenant", "key"},
    )
    db.table("step_cache").create_index(["created"])


def _v12(db: sqlite_utils.Database) -> None:
    """Figures the web UI reads on every page, cheap while runs keep changing (issue 14).

    ``run_counts`` holds how many runs each (tenant, workflow, status) has, kept by triggers in the
    transaction that writes the run, so it is exact whoever writes (the engine's whole-row
    ``INSERT OR REPLACE``, a bulk ``UPDATE``, a delete, another process). SQLite fires no delete
    trigger for a row that REPLACE removes, so a BEFORE INSERT trigger takes the rows the insert
    will replace (same id, or same idempotency key) out of the counts first. A run's tenant is its
    batch's, which is written before its runs and never changes.
    Indexes: finished runs by state and time (home's failures and hourly chart), finished steps
    (home's step durations), live documents' sizes (home's count and storage), and a tenant's
    documents newest first and by media type (its documents list, filter and storage).
    """
    db.execute("CREATE TABLE run_counts (tenant TEXT NOT NULL, workflow TEXT NOT NULL, status TEXT NOT NULL, "
               "n INTEGER NOT NULL, PRIMARY KEY (tenant, workflow, status)) WITHOUT ROWID")
    key = "coalesce({t}, ''), coalesce({r}.workflow, ''), coalesce({r}.status, '')"
    add = ("INSERT INTO run_counts (tenant, workflow, status, n) VALUES ("
           + key.format(t="(SELECT tenant FROM batches WHERE id = NEW.batch_id)", r="NEW")
           + ", 1) ON CONFLICT (tenant, workflow, status) DO UPDATE SET n = n + 1;")
    # Two lookups by unique key (a row-value subquery each), not one UPDATE FROM grouping both: half the cost.
    take = " ".join("UPDATE run_counts SET n = n - 1 WHERE (tenant, workflow, status) = (SELECT "
                    + key.format(t="b.tenant", r="r") + f" FROM runs r LEFT JOIN batches b ON b.id = r.batch_id "
                    f"WHERE {match});" for match in ("r.id = NEW.id", "r.idempotency_key = NEW.idempotency_key "
                                                                       "AND r.id != NEW.id"))
    take_old = ("UPDATE run_counts SET n = n - 1 WHERE (tenant, workflow, status) = ("
                + key.format(t="(SELECT tenant FROM batches WHERE id = OLD.batch_id)", r="OLD") + ");")
    db.execute(f"CREATE TRIGGER run_counts_replace BEFORE INSERT ON runs BEGIN {take} END")
    db.execute(f"CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN {add} END")
    db.execute("CREATE TRIGGER run_counts_update AFTER UPDATE OF batch_id, workflow, status ON runs "
               "WHEN OLD.status IS NOT NEW.status OR OLD.workflow IS NOT NEW.workflow OR OLD.batch_id IS NOT NEW.batch_id "
               f"BEGIN {take_old} {add} END")
    db.execute(f"CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN {take_old} END")
    db.execute("INSERT INTO run_counts (tenant, workflow, status, n) SELECT " + key.format(t="b.tenant", r="r")
               + ", count(*) FROM runs r LEFT JOIN batches b ON b.id = r.batch_id GROUP BY 1, 2, 3")
    db.table("runs").create_index(["status", "finished"])
    db.table("steps").create_index(["finished"])
    # Not (deleted, size): the planner would take it for the documents list (deleted IS NULL) and
    # sort every live document instead of reading the newest 48 from the (created) index.
    db.table("documents").create_index(["size", "deleted"])
    db.table("documents").create_index(["tenant", "deleted", "created", "size"])  # a tenant's list, count and storage
    db.table("documents").create_index(["tenant", "media_type"])  # a tenant's media type filter


def _v13(db: sqlite_utils.Database) -> None:
    """Search behind one interface (issue 15, store/search/): FTS5 with the tokenizer the PostgreSQL
    adapter matches (accents folded, no stemming) instead of ``documents_fts`` (porter), and each
    indexed row knows its document and tenant. Triggers index a live document in the transaction
    that writes it and drop it when it is deleted; a document replaced by ``INSERT OR REPLACE``
    fires no delete trigger, so the insert trigger drops its old entry first."""
    from .search.fts5 import TABLES

    db.table("documents_fts").drop()
    for trigger in ("documents_ai", "documents_ad", "documents_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in TABLES:
        db.execute(statement)
    drop = ("DELETE FROM search_fts WHERE rowid = (SELECT rowid FROM search_documents WHERE document_id = {d}.id); "
            "DELETE FROM search_documents WHERE document_id = {d}.id;")
    add = ("INSERT INTO search_documents (document_id, tenant) SELECT NEW.id, coalesce(NEW.tenant, '') "
           "WHERE NEW.deleted IS NULL; INSERT INTO search_fts (rowid, name, text) SELECT rowid, NEW.name, "
           "coalesce(NEW.text, '') FROM search_documents WHERE document_id = NEW.id AND NEW.deleted IS NULL;")
    db.execute(f"CREATE TRIGGER search_documents_insert AFTER INSERT ON documents BEGIN {drop.format(d='NEW')} {add} END")
    db.execute("CREATE TRIGGER search_documents_update AFTER UPDATE OF id, tenant, name, text, deleted ON documents "
               "WHEN OLD.id IS NOT NEW.id OR OLD.tenant IS NOT NEW.tenant OR OLD.name IS NOT NEW.name "
               "OR OLD.text IS NOT NEW.text OR OLD.deleted IS NOT NEW.deleted "
               f"BEGIN {drop.format(d='OLD')} {drop.format(d='NEW')} {add} END")
    db.execute(f"CREATE TRIGGER search_documents_delete AFTER DELETE ON documents BEGIN {drop.format(d='OLD')} END")
    db.execute("INSERT INTO search_documents (document_id, tenant) SELECT id, coalesce(tenant, '') FROM documents "
               "WHERE deleted IS NULL")
    db.execute("INSERT INTO search_fts (rowid, name, text) SELECT s.rowid, d.name, coalesce(d.text, '') "
               "FROM search_documents s JOIN documents d ON d.id = s.document_id")



# The analyzers whose findings the analytics page counts (paperchain.analytics), and each one's
# rows in ``finding_terms`` from a findings row ``f`` (its data NULL when it is not valid JSON).
_TERMS = (
    "SELECT DISTINCT f.document_id, f.analyzer, f.created, '', lower(CASE WHEN k.type = 'object' THEN "
    "json_extract(k.value, '$.keyword') END) AS term FROM {f} f, json_each(f.data, '$.keywords') k "
    "WHERE f.analyzer = 'text.keywords' AND term IS NOT NULL",
    "SELECT DISTINCT f.document_id, f.analyzer, f.created, e.key, CASE WHEN i.type = 'object' THEN "
    "json_extract(i.value, '$.text') END AS term FROM {f} f, json_each(f.data) e, "
    "json_each(CASE WHEN e.type = 'array' THEN e.value ELSE '[]' END) i "
    "WHERE f.analyzer = 'text.entities' AND term IS NOT NULL",
    "SELECT f.document_id, f.analyzer, f.created, '', coalesce(json_extract(f.data, '$.language'), '') "
    "FROM {f} f WHERE f.analyzer = 'text.language' AND f.data IS NOT NULL",
    "SELECT f.document_id, f.analyzer, f.created, '', '' FROM {f} f "
    "WHERE f.analyzer = 'text.near_duplicates' AND json_array_length(f.data, '$.duplicates') > 0",
)


def _v14(db: sqlite_utils.Database) -> None:
    """The analytics' corpus figures without parsing JSON on every request (issue 16).

    ``finding_terms`` holds what the page counts of each text analyzer's finding: a keyword
    (lowercased) or an entity (kind, text) once per document, the detected language, and a row
    for a finding that names near-duplicates. Triggers keep it in the transaction that writes the
    finding; findings are written by ``INSERT OR REPLACE``, which fires no delete trigger, so the
    insert trigger first drops the document's earlier rows of that analyzer. Its columns ``kind``
    and ``term`` have no type, so a value keeps the type JSON gave it, as the page read it before.
    Indexes: each analyzer's terms and findings by time, events by type and time (the
    duplicates' ingestions), and a document's liveness, tenant and time without reading its row
    (which holds its text)
    """
    db.execute("CREATE TABLE finding_terms (document_id TEXT NOT NULL, analyzer TEXT NOT NULL, created TEXT, "
               "kind, term)")
    db.table("finding_terms").create_index(["analyzer", "created", "kind", "term", "document_id"])  # counted from it alone
    db.table("finding_terms").create_index(["document_id", "analyzer"])
    row = ("(SELECT {r}.document_id AS document_id, {r}.analyzer AS analyzer, {r}.created AS created, "
           "CASE WHEN json_valid({r}.data) THEN {r}.data END AS data)")
    drop = "DELETE FROM finding_terms WHERE document_id = {r}.document_id AND analyzer = {r}.analyzer;"
    add = " ".join(f"INSERT INTO finding_terms {select.format(f=row.format(r='NEW'))};" for select in _TERMS)
    analyzers = "('text.keywords', 'text.entities', 'text.language', 'text.near_duplicates')"
    db.execute(f"CREATE TRIGGER finding_terms_insert AFTER INSERT ON findings WHEN NEW.analyzer IN {analyzers} "
               f"BEGIN {drop.format(r='NEW')} {add} END")
    db.execute("CREATE TRIGGER finding_terms_update AFTER UPDATE ON findings "
               f"BEGIN {drop.format(r='OLD')} {drop.format(r='NEW')} {add} END")
    db.execute(f"CREATE TRIGGER finding_terms_delete AFTER DELETE ON findings BEGIN {drop.format(r='OLD')} END")
    every = ("(SELECT document_id, analyzer, created, CASE WHEN json_valid(data) THEN data END AS data "
             f"FROM findings WHERE analyzer IN {analyzers})")
    for select in _TERMS:
        db.execute(f"INSERT INTO finding_terms {select.format(f=every)}")
    db.table("findings").create_index(["analyzer", "created"])
    db.table("events").create_index(["type", "time"])
    db.table("documents").create_index(["id", "deleted", "tenant", "created"])  # a counted row's document, not its text


MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13, _v14]


def migrate_existing(path: Path) -> int:
    """Bring a SQLite file made before the Alembic baseline to its last version here; return the
    version (0: a new or empty file, which the baseline revision creates, store/migrations)."""
    import sqlite3

    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return migrate(path) if version else 0


def migrate(path: Path) -> int:
    """Create or upgrade the database at ``path``; return the schema version."""
    db = sqlite_utils.Database(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS, start=1):
            if version < number:
                with db.conn:
                    migration(db)
                    db.execute(f"PRAGMA user_version = {number}")
        return len(MIGRATIONS)
    finally:
        db.close()
