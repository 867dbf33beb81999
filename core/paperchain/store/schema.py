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


MIGRATIONS = [_v1]


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
