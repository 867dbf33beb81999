"""Administration (admins only): the System page (health, readiness, queue, workers, storage,
version) and the Plugins page (each plugin's version and status, with its error and fix when it
failed; each component's settings schema and the deployment's configured values, secrets hidden).

The figures are the ones the API serves (``/health``, ``/ready``, ``/api/v1/plugins``,
``/api/v1/components``), read from the same kernel services. Both pages are audited like the
API's admin routes. A tenant's admin sees its own tenant's queue and documents; what the whole
deployment holds (database and blob store sizes, other tenants' work, configured values, which
may name hosts and accounts) is shown to the deployment's admin only.
"""

from __future__ import annotations

import asyncio
import platform
import re
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from paperchain_sdk.specs import resolve

from ... import __version__
from ...api.guard import STATE
from ...api.openapi import settings_schema
from ...store.migrations import VERSION_TABLE
from ...store.tables import documents
from ..cache import run_counts
from ..guard import page
from ..render import render

# Settings whose values are secrets, by name (``password_env`` names a variable: not a secret).
_SECRET = re.compile(r"pass(word|phrase)?|secret|token|credential|private|api_?key|(^|_)key$", re.IGNORECASE)
HIDDEN = "••••••"
_DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _kernel(request):
    return request.app[STATE].kernel


async def _database_answers(kernel) -> bool:
    try:
        return await kernel.sql.scalar(sa.select(sa.literal(1))) == 1
    except Exception:  # noqa: BLE001 - any failure means not ready, as /ready says
        return False


async def _storage(kernel) -> dict:
    """The database's size and the blob store's (on disk or in its bucket)."""
    blobs, files = await asyncio.to_thread(kernel.blobs.usage)
    return {"database": await _database_bytes(kernel), "blobs": blobs, "blob_files": files}


async def _database_bytes(kernel) -> int:
    # How big a database is has no portable spelling: SQLite's is its file (with the write-ahead
    # log), PostgreSQL's what the server reports for the database.
    if kernel.sql.dialect == "sqlite":
        return sum(path.stat().st_size for path in (kernel.db_path, Path(f"{kernel.db_path}-wal")) if path.exists())
    return int(await kernel.sql.scalar(sa.select(sa.func.pg_database_size(sa.func.current_database()))))


async def _documents(kernel, tenant: str | None) -> tuple[int, int]:
    where: list[sa.ColumnElement[bool]] = [documents.c.deleted.is_(None)]
    if tenant:
        where.append(documents.c.tenant == tenant)
    row = await kernel.sql.first(sa.select(sa.func.count().label("n"),
                                           sa.cast(sa.func.coalesce(sa.func.sum(documents.c.size), 0),
                                                   sa.BigInteger).label("size")).where(*where))
    return row.n, row.size


async def _schema_version(kernel) -> str:
    """The kernel's migration revision (store/migrations)."""
    version = sa.table(VERSION_TABLE, sa.column("version_num"))
    return await kernel.sql.scalar(sa.select(version.c.version_num)) or "?"


def _database_software(kernel) -> str:
    """Which database and its version, as the driver learnt it when connecting."""
    dialect = kernel.database.engine.dialect
    return f"{_DATABASES.get(dialect.name, dialect.name)} {'.'.join(map(str, dialect.server_version_info or ()))}"


@page(role="admin", audit=True)
async def system(request, ctx):
    kernel = _kernel(request)
    tenant = ctx.who.tenant
    database = await _database_answers(kernel)
    statuses = [p.status for p in kernel.plugins]
    states = await run_counts(kernel.sql, tenant)
    documents, stored = await _documents(kernel, tenant)
    return render(request, ctx, "admin_system.html",
                  ready=database, database_answers=database, plugins_loaded=statuses.count("active"),
                  plugins_failed=statuses.count("failed"), queued=states.get("queued", 0),
                  running=states.get("running", 0), pool=kernel.config.workers,
                  documents=documents, stored=stored, storage=None if tenant else await _storage(kernel),
                  version=__version__, schema=await _schema_version(kernel), python=platform.python_version(),
                  database_software=_database_software(kernel),
                  data_dir=None if tenant else str(kernel.config.data_dir))


def hide_secrets(value, key: str = ""):
    """A configured value as it may be shown: secrets (by their setting's name) hidden, and the
    password in a URL's user part hidden, at any depth."""
    if isinstance(value, dict):
        return {k: hide_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_secrets(v, key) for v in value]
    if key and _SECRET.search(key) and not key.lower().endswith("_env") and value not in ("", None):
        return HIDDEN
    if isinstance(value, str) and "@" in value and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            return value.replace(f":{parts.password}@", f":{HIDDEN}@", 1)
    return value


def _fields(schema: dict, configured: dict) -> list[dict]:
    """One row per setting: its type, default and the deployment's value (secrets hidden)."""
    shown = hide_secrets(configured)
    rows = []
    for name, spec in (schema.get("properties") or {}).items():
        rows.append({"name": name, "type": spec.get("type", ""), "items": (spec.get("items") or {}).get("type", ""),
                     "choices": spec.get("enum"),
                     "default": hide_secrets(spec["default"], name) if "default" in spec else None,
                     "has_default": "default" in spec, "required": name in schema.get("required", ()),
                     "configured": name in shown, "value": shown.get(name)})
    for name in sorted(set(shown) - set(schema.get("properties") or {})):  # start-up would refuse these
        rows.append({"name": name, "type": "", "items": "", "choices": None, "default": None, "has_default": False,
                     "required": False, "configured": True, "value": shown[name]})
    return rows


@page(role="admin", audit=True)
async def plugins(request, ctx):
    kernel = _kernel(request)
    operator = not ctx.who.tenant
    configured = kernel.config.components if operator else {}
    components = []
    for entry in sorted(kernel.registry.entries(), key=lambda e: (e.kind, e.spec.name)):
        spec, error = entry.spec, ""
        try:
            schema = settings_schema(resolve(spec.settings))  # a light import of the settings class only
        except Exception as exc:  # noqa: BLE001 - one component's broken settings class, shown on its row
            schema, error = {}, f"{type(exc).__name__}: {exc}"
        components.append({"name": spec.name, "kind": spec.kind, "plugin": entry.plugin.name,
                           "summary": spec.summary, "cpu_bound": spec.cpu_bound, "error": error,
                           "fields": _fields(schema, configured.get(spec.name, {}))})
    installed = sorted(kernel.plugins, key=lambda p: (p.status != "failed", p.name))
    return render(request, ctx, "admin_plugins.html", plugins=installed, components=components,
                  operator=operator, config_source=kernel.config.source if operator else None,
                  failed=sum(1 for p in installed if p.status == "failed"))


PAGES = [
    ("GET", "/admin/system", system),
    ("GET", "/admin/plugins", plugins),
]
