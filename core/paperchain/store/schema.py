"""The database schema, created and migrated in code with sqlite-utils.

Each entry of MIGRATIONS upgrades the schema by one version (kept in ``PRAGMA user_version``), so
an older data directory is brought up to date on open. Inspect any table with the ``sqlite-utils``
command line, e.g. ``sqlite-utils rows .paperchain/paperchain.db runs``.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db["documents"].create(
        {"id": str, "name": str, "media_type": str, "size": int, "created": str,
         "text": str, "metadata": str, "tags": str, "deleted": str},
        pk="id",
    )
    db["documents"].enable_fts(["name", "text"], create_triggers=True, tokenize="porter")
    db["workflow_versions"].create({"hash": str, "name": str, "definition": str, "created": str}, pk="hash")
    db["batches"].create(
        {"id": str, "workflow": str, "workflow_hash": str, "status": str, "created": str,
         "finished": str, "inputs": str, "paths": str, "total": int},
        pk="id",
    )
    db["runs"].create(
        {"id": str, "batch_id": str, "seq": int, "kind": str, "workflow": str, "workflow_hash": str,
         "document_id": str, "source": str, "status": str, "inputs": str, "created": str,
         "started": str, "finished": str, "error": str, "idempotency_key": str},
        pk="id",
    )
    db["runs"].create_index(["batch_id", "seq"])
    db["runs"].create_index(["status"])
    db["runs"].create_index(["idempotency_key"], unique=True)
    db["steps"].create(
        {"run_id": str, "step_id": str, "uses": str, "status": str, "attempts": int,
         "outputs": str, "error": str, "error_detail": str, "started": str, "finished": str,
         "idempotency_key": str, "continued": int},
        pk=("run_id", "step_id"),
    )
    db["attempts"].create(
        {"run_id": str, "step_id": str, "attempt": int, "status": str, "started": str,
         "finished": str, "error": str},
        pk=("run_id", "step_id", "attempt"),
    )
    db["artifacts"].create(
        {"run_id": str, "step_id": str, "name": str, "sha256": str, "media_type": str,
         "size": int, "document_id": str, "created": str},
        pk=("run_id", "step_id", "name"),
    )
    db["artifacts"].create_index(["document_id"])
    db["findings"].create(
        {"document_id": str, "analyzer": str, "run_id": str, "step_id": str, "data": str,
         "summary": str, "created": str},
        pk=("document_id", "analyzer"),
    )
    db["events"].create({"seq": int, "type": str, "subject": str, "time": str, "data": str}, pk="seq")


def _v2(db: sqlite_utils.Database) -> None:
    """The API: saved workflows, users, keys, the audit log, step logs, idempotent batches."""
    db["batches"].add_column("idempotency_key", str)
    db["batches"].add_column("source", str)
    db["batches"].add_column("created_by", str)
    db["batches"].create_index(["idempotency_key"], unique=True)
    db["batches"].create_index(["created"])
    db["runs"].create_index(["workflow", "created"])
    db["runs"].create_index(["document_id"])
    db["documents"].add_column("deleted_by", str)
    db["documents"].add_column("created_by", str)
    db["documents"].add_column("tenant", str)
    db["documents"].create_index(["created"])
    db["workflows"].create(
        {"name": str, "hash": str, "enabled": int, "created": str, "updated": str, "created_by": str,
         "origin": str, "tenant": str},
        pk="name",
    )
    db["workflow_versions"].add_column("created_by", str)
    db["workflow_versions"].create_index(["name", "created"])
    db["users"].create(
        {"name": str, "password_hash": str, "role": str, "tenant": str, "created": str, "disabled": int},
        pk="name",
    )
    db["api_keys"].create(
        {"id": str, "secret_hash": str, "name": str, "owner": str, "role": str, "scopes": str,
         "created": str, "last_used": str, "revoked": str, "expires": str},
        pk="id",
    )
    db["refresh_tokens"].create(
        {"id": str, "owner": str, "created": str, "expires": str, "revoked": str}, pk="id",
    )
    db["audit"].create(
        {"id": int, "time": str, "actor": str, "action": str, "target": str, "ip": str,
         "outcome": str, "status": int, "details": str},
        pk="id",
    )
    db["audit"].create_index(["time"])
    db["step_logs"].create(
        {"run_id": str, "step_id": str, "attempt": int, "seq": int, "time": str, "level": str, "message": str},
        pk=("run_id", "step_id", "attempt", "seq"),
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Tenant-scoped documents and blob keys (issue 13)."""


def _v4(db: sqlite_utils.Database) -> None:
    """Tenant-scoped workflows, shared explicitly by an admin (issue 13)."""


def _v5(db: sqlite_utils.Database) -> None:
    """Account security: login throttling, IP blocks, second factors (issue 13)."""


MIGRATIONS = [_v1, _v2, _v3, _v4, _v5]


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
