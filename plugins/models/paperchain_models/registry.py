"""Named, versioned models: files in the kernel's blob store, metadata in ``models_*`` tables.

A version's stage is "" (registered), "staging", "production" or "archived". Promoting a version
to production archives the one there and records the change, so ``rollback`` can restore it.

Every model belongs to a tenant (``''``: the deployment's own, registered by the operator). Two
tenants may each have a model of the same name. A tenant reads its own models and, read-only, the
deployment's; it changes only its own. The operator reads and changes every tenant's, naming a
tenant's model ``tenant:name``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import attrs
from paperchain_sdk import ConflictError, InputError, NotFoundError, PermissionDenied

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
STAGES = ("staging", "production")

SCHEMA = """
CREATE TABLE IF NOT EXISTS models_versions (
    tenant TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
    task TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]', metrics TEXT NOT NULL DEFAULT '{}', training TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, name, version));
CREATE TABLE IF NOT EXISTS models_stage_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, stage TEXT NOT NULL,
    version INTEGER NOT NULL, previous INTEGER, changed TEXT NOT NULL, changed_by TEXT NOT NULL DEFAULT '',
    undone INTEGER NOT NULL DEFAULT 0, tenant TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS models_jobs (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, task TEXT NOT NULL, status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', version INTEGER,
    error TEXT, created TEXT NOT NULL, finished TEXT, created_by TEXT NOT NULL DEFAULT '',
    tenant TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS models_interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, document TEXT NOT NULL,
    kind TEXT NOT NULL, weight REAL NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS models_interactions_user ON models_interactions (user);
"""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InputError(f"model name {name!r} is not valid.",
                         hint="use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def scope(ref: str, caller: str) -> tuple[str, str]:
    """(tenant, name) a caller of tenant ``caller`` means by ``ref``: its own tenant's name, or for
    the operator (``caller == ''``) also ``tenant:name``."""
    if not caller and isinstance(ref, str) and ":" in ref:
        tenant, _, name = ref.partition(":")
        return tenant, check_name(name)
    return caller, check_name(ref)


@attrs.frozen(kw_only=True)
class ModelVersion:
    tenant: str
    name: str
    version: int
    kind: str  # "onnx" (imported), "text", "tabular"
    task: str  # "classification", "regression", "clustering" or "" (imported)
    sha256: str
    size: int
    inputs: list  # [{"name", "type", "shape"}] read from the graph
    outputs: list
    labels: list
    metrics: dict
    training: dict
    created: str
    created_by: str
    stage: str

    def to_json(self) -> dict:
        return attrs.asdict(self)


def connect(db_path: Path) -> sqlite3.Connection:
    """Our own connection to the kernel's database (WAL, waits for the kernel's writer)."""
    conn = sqlite3.connect(db_path, timeout=10, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    _migrate(conn)
    conn.executescript(SCHEMA)
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Tables made before tenants: every existing row is the deployment's (tenant '').
    ``models_versions`` is rebuilt, since its primary key gains the tenant."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        versions = _columns(conn, "models_versions")
        if versions and "tenant" not in versions:
            conn.execute("ALTER TABLE models_versions RENAME TO models_versions_before_tenants")
            conn.execute(SCHEMA.split(";")[0])
            conn.execute(f"INSERT INTO models_versions (tenant, {_COLUMNS}) "
                         f"SELECT '', {_COLUMNS} FROM models_versions_before_tenants")
            conn.execute("DROP TABLE models_versions_before_tenants")
        for table in ("models_stage_changes", "models_jobs"):
            columns = _columns(conn, table)
            if columns and "tenant" not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN tenant TEXT NOT NULL DEFAULT ''")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Registry:
    """Model versions and their stages, per tenant. Thread-safe: one connection behind a lock.

    Every method takes ``tenant``, the scope the model belongs to (``''``: the deployment's). Reads
    (``versions``, ``get``, ``resolve``) fall back to the deployment's model of that name when the
    tenant has none, so an operator's model serves every tenant; writes never do (``writable``).
    """

    def __init__(self, conn: sqlite3.Connection, blobs: Any):
        self.conn = conn
        self.blobs = blobs
        self.lock = threading.RLock()

    # -- adding --------------------------------------------------------------------------------------

    def import_onnx(self, name: str, data: bytes, *, created_by: str = "", task: str = "",
                    labels: list | None = None, tenant: str = "") -> ModelVersion:
        """Check an ONNX file with onnx.checker, read its inputs and outputs, store it as a new version."""
        from .onnx_io import describe_onnx

        check_name(name)
        inputs, outputs = describe_onnx(data)
        return self.add(name, data, kind="onnx", task=task, inputs=inputs, outputs=outputs,
                        labels=labels or [], created_by=created_by, tenant=tenant)

    def add(self, name: str, data: bytes, *, kind: str, task: str, inputs: list, outputs: list, labels: list = (),
            metrics: dict | None = None, training: dict | None = None, created_by: str = "",
            tenant: str = "") -> ModelVersion:
        check_name(name)
        digest, size, _ = self.blobs.put_bytes(data)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                (latest,) = self.conn.execute(
                    "SELECT coalesce(max(version), 0) FROM models_versions WHERE tenant = ? AND name = ?",
                    (tenant, name)).fetchone()
                self.conn.execute(
                    "INSERT INTO models_versions (tenant, name, version, kind, task, sha256, size, inputs, outputs, "
                    "labels, metrics, training, created, created_by, stage) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                    (tenant, name, latest + 1, kind, task, digest, size, json.dumps(inputs), json.dumps(outputs),
                     json.dumps(list(labels)), json.dumps(metrics or {}), json.dumps(training or {}), now(), created_by))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return self.get(name, latest + 1, tenant=tenant)

    # -- scopes --------------------------------------------------------------------------------------

    def _has(self, tenant: str, name: str) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM models_versions WHERE tenant = ? AND name = ? LIMIT 1",
                                     (tenant, name)).fetchone() is not None

    def owner(self, name: str, tenant: str) -> str:
        """Whose model ``name`` a caller of ``tenant`` reads: its own, else the deployment's."""
        if tenant and not self._has(tenant, name) and self._has("", name):
            return ""
        return tenant

    def writable(self, name: str, tenant: str) -> None:
        """Refuse a tenant's change to the deployment's shared model (it may read it, not change it;
        importing or training a version of its own under that name is not a change to it)."""
        if tenant and not self._has(tenant, name) and self._has("", name):
            raise PermissionDenied(f"model {name!r} is the deployment's, shared read-only with every tenant.",
                                   hint="train or import a model of your own (the same name is fine: yours "
                                        "then takes its place for your tenant)")

    # -- reading -------------------------------------------------------------------------------------

    def names(self, tenant: str = "") -> list[dict]:
        """The models a caller of ``tenant`` sees: its own and the deployment's it has no own of the
        same name ('' : every tenant's, the operator)."""
        where, args = ("WHERE tenant IN (?, '')", (tenant,)) if tenant else ("", ())
        with self.lock:
            rows = self.conn.execute(
                "SELECT tenant, name, count(*), max(version), max(CASE WHEN stage = 'production' THEN version END), "
                f"max(CASE WHEN stage = 'staging' THEN version END) FROM models_versions {where} "
                "GROUP BY tenant, name ORDER BY name, tenant", args).fetchall()
        mine = {r[1] for r in rows if r[0] == tenant}
        return [{"name": r[1], "tenant": r[0], "ref": f"{r[0]}:{r[1]}" if r[0] else r[1], "versions": r[2],
                 "latest": r[3], "production": r[4], "staging": r[5]}
                for r in rows if not (tenant and r[0] == "" and r[1] in mine)]

    def versions(self, name: str, *, tenant: str = "") -> list[ModelVersion]:
        tenant = self.owner(name, tenant)
        with self.lock:
            rows = self.conn.execute(f"SELECT {_COLUMNS}, tenant FROM models_versions WHERE tenant = ? AND name = ? "
                                     "ORDER BY version", (tenant, name)).fetchall()
        if not rows:
            raise NotFoundError(f"There is no model {name!r}.", hint="`paperchain models list` shows the models")
        return [_version(r) for r in rows]

    def get(self, name: str, version: int, *, tenant: str = "") -> ModelVersion:
        tenant = self.owner(name, tenant)
        with self.lock:
            row = self.conn.execute(f"SELECT {_COLUMNS}, tenant FROM models_versions "
                                    "WHERE tenant = ? AND name = ? AND version = ?", (tenant, name, version)).fetchone()
        if row is None:
            raise NotFoundError(f"Model {name!r} has no version {version}.",
                                hint=f"`paperchain models show {name}` lists its versions")
        return _version(row)

    def resolve(self, name: str, version: str | int | None = "", *, tenant: str = "") -> ModelVersion:
        """A version by number, by stage ("production", "staging"), or by default: production, else the newest."""
        if version in (None, "", "latest") or version in STAGES:
            versions = self.versions(name, tenant=tenant)
            if version in STAGES:
                staged = [v for v in versions if v.stage == version]
                if not staged:
                    raise NotFoundError(f"Model {name!r} has no version in {version}.",
                                        hint=f"promote one: `paperchain models promote {name} VERSION {version}`")
                return staged[-1]
            production = [v for v in versions if v.stage == "production"]
            return (production or versions)[-1] if version != "latest" else versions[-1]
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise InputError(f"version {version!r} is not a number, 'latest', 'staging' or 'production'.",
                             hint="give e.g. 3, or leave it empty for the production version") from None
        return self.get(name, number, tenant=tenant)

    def path(self, version: ModelVersion) -> Path:
        return self.blobs.path(version.sha256)

    # -- stages --------------------------------------------------------------------------------------

    def promote(self, name: str, version: int, stage: str, *, by: str = "", tenant: str = "") -> ModelVersion:
        if stage not in STAGES:
            raise InputError(f"stage {stage!r} is not known.", hint="use 'staging' or 'production'")
        self.writable(name, tenant)
        target = self.get(name, version, tenant=tenant)
        scope = (tenant, name)
        with self.lock:
            current = self.conn.execute("SELECT version FROM models_versions WHERE tenant = ? AND name = ? AND stage = ?",
                                        (*scope, stage)).fetchone()
            previous = current[0] if current else None
            if previous == target.version:
                return target
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("UPDATE models_versions SET stage = 'archived' WHERE tenant = ? AND name = ? "
                                  "AND stage = ?", (*scope, stage))
                self.conn.execute("UPDATE models_versions SET stage = ? WHERE tenant = ? AND name = ? AND version = ?",
                                  (stage, *scope, version))
                self.conn.execute("INSERT INTO models_stage_changes (tenant, name, stage, version, previous, changed, "
                                  "changed_by) VALUES (?, ?, ?, ?, ?, ?, ?)", (*scope, stage, version, previous, now(), by))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return self.get(name, version, tenant=tenant)

    def rollback(self, name: str, stage: str = "production", *, by: str = "", tenant: str = "") -> ModelVersion:
        """Undo the last promotion to ``stage``: the version that was there before comes back."""
        self.writable(name, tenant)
        self.versions(name, tenant=tenant)
        scope = (tenant, name)
        with self.lock:
            row = self.conn.execute(
                "SELECT id, version, previous FROM models_stage_changes WHERE tenant = ? AND name = ? AND stage = ? "
                "AND undone = 0 ORDER BY id DESC LIMIT 1", (*scope, stage)).fetchone()
            if row is None or row[2] is None:
                raise ConflictError(f"Model {name!r} has no earlier {stage} version to roll back to.",
                                    hint="promote a version explicitly instead")
            change_id, version, previous = row
            exists = self.conn.execute("SELECT 1 FROM models_versions WHERE tenant = ? AND name = ? AND version = ?",
                                       (*scope, previous)).fetchone()
            if exists is None:
                raise ConflictError(f"Version {previous} of {name!r}, which was in {stage} before, has been deleted.",
                                    hint="promote another version explicitly")
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("UPDATE models_versions SET stage = 'archived' WHERE tenant = ? AND name = ? "
                                  "AND version = ?", (*scope, version))
                self.conn.execute("UPDATE models_versions SET stage = ? WHERE tenant = ? AND name = ? AND version = ?",
                                  (stage, *scope, previous))
                self.conn.execute("UPDATE models_stage_changes SET undone = 1 WHERE id = ?", (change_id,))
                self.conn.execute("INSERT INTO models_stage_changes (tenant, name, stage, version, previous, changed, "
                                  "changed_by, undone) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                                  (*scope, stage, previous, version, now(), by))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return self.get(name, previous, tenant=tenant)

    def delete(self, name: str, version: int | None = None, *, force: bool = False, tenant: str = "") -> list[int]:
        """Delete one version (or every version); a production version only with ``force``."""
        self.writable(name, tenant)
        victims = [v for v in self.versions(name, tenant=tenant) if version is None or v.version == version]
        if not victims:
            self.get(name, version, tenant=tenant)  # raises NotFoundError
        live = [v.version for v in victims if v.stage == "production"]
        if live and not force:
            raise ConflictError(f"Version {live[0]} of {name!r} is in production.",
                                hint="promote or roll back another version first, or delete with force")
        with self.lock:
            for v in victims:
                self.conn.execute("DELETE FROM models_versions WHERE tenant = ? AND name = ? AND version = ?",
                                  (tenant, name, v.version))
        # Blobs stay: the store is content-addressed and another version may share the bytes.
        return [v.version for v in victims]


_COLUMNS = ("name, version, kind, task, sha256, size, inputs, outputs, labels, metrics, training, created, "
            "created_by, stage")


def _version(row) -> ModelVersion:
    return ModelVersion(name=row[0], version=row[1], kind=row[2], task=row[3], sha256=row[4], size=row[5],
                        inputs=json.loads(row[6]), outputs=json.loads(row[7]), labels=json.loads(row[8]),
                        metrics=json.loads(row[9]), training=json.loads(row[10]), created=row[11],
                        created_by=row[12], stage=row[13], tenant=row[14])
