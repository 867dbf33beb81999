"""Saved workflows: what the API and triggers run by name.

A workflow saved here has a current version (its definition's SHA-256, kept in
``workflow_versions`` with every earlier one) and an ``enabled`` flag; a disabled workflow keeps
its versions but starts no runs. ``paperchain serve`` saves every file in ``workflows_dir`` at
start-up, so editing a file and restarting makes a new version.

Every workflow belongs to a tenant (``''``: the deployment-wide scope of the operator, who sees
every tenant's). A tenant sees, runs and changes its own workflows, and may read and run the ones
an admin shared with it (``workflow_shares``; ``'*'`` shares with every tenant). A tenant's own
workflow of the same name hides a shared one. The operator names a tenant's workflow by its
*ref*, ``<tenant>:<name>`` (a deployment-wide workflow's ref is its name); triggers and
``kernel.submit`` use refs too, so ``POST /hooks/acme:invoices`` starts tenant acme's workflow.
Workflow files load into the deployment-wide scope and are shared with every tenant when first
saved; an admin may withdraw that share, and a restart does not bring it back.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from paperchain_sdk import ConfigError, ConflictError, NotFoundError, PermissionDenied

from .documents import now
from .store.tables import workflow_history, workflow_shares, workflow_versions, workflows


@attrs.frozen(kw_only=True)
class SavedWorkflow:
    name: str
    hash: str
    enabled: bool
    tenant: str = ""
    ref: str = ""
    shared: bool = False  # seen through a share: the caller may read and run it, not change it
    created: str
    updated: str
    created_by: str
    origin: str
    description: str = ""
    triggers: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    definition: dict[str, Any] = attrs.field(factory=dict, repr=False)


def parse_definition(text: str | bytes, media_type: str) -> dict:
    """A workflow definition from TOML or JSON text, with the parser's own position in errors."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("the workflow is not UTF-8 text.", hint="save it as UTF-8") from None
    if "toml" in media_type:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the workflow is not valid TOML: {exc}.", hint="check the line it names") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the workflow is not valid JSON: {exc}.", hint="check the line and column it names") from None
    if not isinstance(data, dict):
        raise ConfigError("the workflow must be a JSON object.", hint='send {"name": ..., "steps": [...]}')
    return data


ALL_TENANTS = "*"
_SELECT = (sa.select(workflows.c.tenant, workflows.c.name, workflows.c.hash, workflows.c.enabled, workflows.c.created,
                     workflows.c.updated, workflows.c.created_by, workflows.c.origin, workflow_versions.c.definition)
           .join(workflow_versions, workflow_versions.c.hash == workflows.c.hash))


def _shared_with(tenant: str):
    """The workflow reaches ``tenant`` through a share: to its own name or to every tenant."""
    s = workflow_shares.c
    return sa.exists().where(s.owner == workflows.c.tenant, s.name == workflows.c.name,
                             s.tenant.in_((tenant, ALL_TENANTS)))


# Journal statements, built once (it groups them by identity); bind names are never a column's.
_RECORD_HISTORY = {"sqlite": sqlite.insert(workflow_history).on_conflict_do_nothing(),
                   "postgresql": postgresql.insert(workflow_history).on_conflict_do_nothing()}
_SET_ENABLED = (sa.update(workflows)
                .where(workflows.c.tenant == sa.bindparam("of_tenant"), workflows.c.name == sa.bindparam("of_name"))
                .values(enabled=sa.bindparam("flag"), updated=sa.bindparam("at")))
_DELETE = sa.delete(workflows).where(workflows.c.tenant == sa.bindparam("of_tenant"),
                                     workflows.c.name == sa.bindparam("of_name"))
_UNSHARE_ALL = sa.delete(workflow_shares).where(workflow_shares.c.owner == sa.bindparam("of_owner"),
                                                workflow_shares.c.name == sa.bindparam("of_name"))
_UNSHARE = _UNSHARE_ALL.where(workflow_shares.c.tenant == sa.bindparam("of_tenant"))


def workflow_ref(tenant: str, name: str) -> str:
    """How the operator, triggers and events name a workflow: ``name``, or ``tenant:name`` in a tenant."""
    return f"{tenant}:{name}" if tenant else name


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"there is no workflow named {name!r}.", hint="GET /api/v1/workflows lists them")


class Workflows:
    """Saved workflows by scope. ``tenant`` arguments are the caller's tenant: ``None`` or ``''``
    for the operator (who names any workflow by its ref), a tenant's name for its users."""

    def __init__(self, kernel):
        self._k = kernel

    def validate(self, definition: dict, *, origin: str = "request body"):
        """The parsed Workflow, or ConfigError with the same message the CLI gives."""
        from .engine.workflow import build_workflow

        return build_workflow(definition, origin=origin, registry=self._k.registry, triggers=self._k.trigger_names())

    async def save(self, definition: dict, *, origin: str = "api", created_by: str = "",
                   name: str | None = None, create_only: bool = False, tenant: str | None = None,
                   share_with_all: bool = False) -> SavedWorkflow:
        """Validate and save a definition as the current version of the workflow of that name in
        ``tenant``'s scope (a no-op if unchanged). ``share_with_all`` shares a newly created
        workflow with every tenant (read and run)."""
        scope = tenant or ""
        workflow = self.validate(definition, origin=origin)
        if name is not None and workflow.name != name:
            raise ConfigError(f"the definition is named {workflow.name!r} but was sent to {name!r}.",
                              hint="make the URL and the definition's 'name' agree")
        current = await self._own(scope, workflow.name)
        if create_only and current is not None:
            raise ConflictError(f"a workflow named {workflow.name!r} exists.",
                                hint=f"PUT /api/v1/workflows/{workflow.name} replaces it")
        stamp = now()
        await self._k.engine._save_workflow(workflow, created_by=created_by)
        self._k.journal.execute(_RECORD_HISTORY[self._k.sql.dialect], {
            "tenant": scope, "name": workflow.name, "hash": workflow.hash, "created": stamp,
            "created_by": created_by or None})
        if current is None and share_with_all:
            self._k.journal.upsert("workflow_shares", {"owner": scope, "name": workflow.name, "tenant": ALL_TENANTS,
                                                       "created": stamp, "created_by": created_by or None})
        await self._k.journal.upsert("workflows", {
            "tenant": scope, "name": workflow.name, "hash": workflow.hash,
            "enabled": 1 if current is None else current["enabled"],
            "created": current["created"] if current else stamp, "updated": stamp,
            "created_by": current["created_by"] if current else created_by, "origin": origin,
        })
        if current is None or current["hash"] != workflow.hash:
            await self._emit("workflow.saved", scope, workflow.name, {"hash": workflow.hash, "origin": origin})
        return self._saved(await self._own(scope, workflow.name))

    async def load_dir(self, folder: Path) -> list[str]:
        """Save every workflow file in a folder (deployment-wide, shared with every tenant when
        first saved); return the names saved. A bad file is logged, not fatal."""
        import logging

        saved = []
        for path in sorted(list(folder.glob("*.toml")) + list(folder.glob("*.json"))):
            try:
                text = path.read_text(encoding="utf-8")
                media = "toml" if path.suffix == ".toml" else "json"
                saved.append((await self.save(parse_definition(text, media), origin=str(path), created_by="files",
                                              share_with_all=True)).name)
            except ConfigError as exc:
                logging.getLogger(__name__).error("workflow %s not loaded: %s", path, exc)
        return saved

    # -- finding a workflow -------------------------------------------------------------------

    async def _fetch(self, *where) -> list[dict]:
        rows = await self._k.sql.read(_SELECT.where(*where))
        # Sorted here, by code point as SQLite compares text, whatever the database's collation.
        return sorted((dict(row._mapping) for row in rows), key=lambda row: (row["tenant"], row["name"]))

    async def _own(self, scope: str, name: str) -> dict | None:
        rows = await self._fetch(workflows.c.tenant == scope, workflows.c.name == name)
        return rows[0] if rows else None

    async def _find(self, name: str, tenant: str | None) -> tuple[dict, bool]:
        """The row ``name`` means to a caller of ``tenant`` and whether it reaches them through a share."""
        if not tenant:
            row = await self._own("", name)
            if row is None and ":" in name:
                row = await self._own(*name.split(":", 1))
            if row is None:
                raise _not_found(name)
            return row, False
        row = await self._own(tenant, name)
        if row is not None:
            return row, False
        rows = await self._fetch(workflows.c.name == name, workflows.c.tenant != tenant, _shared_with(tenant))
        if not rows:
            raise _not_found(name)
        return rows[0], True  # the deployment-wide one ('' sorts first) before another tenant's

    async def _writable(self, name: str, tenant: str | None) -> dict:
        row, shared = await self._find(name, tenant)
        if shared:
            raise PermissionDenied(f"the workflow {name!r} is shared with your tenant to read and run, not to change.",
                                   hint=f"PUT /api/v1/workflows/{name} saves a copy of your own under that name")
        return row

    @staticmethod
    def _saved(row: dict, shared: bool = False) -> SavedWorkflow:
        definition = json.loads(row["definition"])
        on = definition.get("on", {"manual": {}})
        return SavedWorkflow(
            name=row["name"], hash=row["hash"], enabled=bool(row["enabled"]), tenant=row["tenant"],
            ref=workflow_ref(row["tenant"], row["name"]), shared=shared, created=row["created"],
            updated=row["updated"], created_by=row["created_by"] or "", origin=row["origin"] or "",
            description=str(definition.get("description", "")),
            triggers=tuple(on if isinstance(on, (dict, list)) else ()),
            steps=tuple(str(s.get("id", "")) for s in definition.get("steps", []) if isinstance(s, dict)),
            definition=definition,
        )

    async def get(self, name: str, *, tenant: str | None = None) -> SavedWorkflow:
        return self._saved(*await self._find(name, tenant))

    async def runnable(self, name: str, *, tenant: str | None = None):
        """``(engine Workflow, the tenant its runs belong to)``, refusing a disabled workflow. A run
        belongs to its caller's tenant, or (for the operator and triggers) to the workflow's."""
        row, _ = await self._find(name, tenant)
        if not row["enabled"]:
            raise ConflictError(f"the workflow {name!r} is disabled.", hint=f"enable it: POST /api/v1/workflows/{name}/enable")
        return await self._k.engine._workflow(row["hash"]), tenant or row["tenant"]

    async def workflow(self, name: str, *, tenant: str | None = None):
        """The current version as an engine Workflow, refusing a disabled one."""
        return (await self.runnable(name, tenant=tenant))[0]

    async def list(self, *, enabled: bool | None = None, tenant: str | None = None) -> list[SavedWorkflow]:
        """The operator's list is every tenant's; a tenant's is its own, then those shared with it."""
        flag = () if enabled is None else (workflows.c.enabled == int(enabled),)
        if not tenant:
            return [self._saved(r) for r in await self._fetch(*flag)]
        own = await self._fetch(workflows.c.tenant == tenant, *flag)
        names = {r["name"] for r in own}
        shared, seen = [], set()
        for row in await self._fetch(workflows.c.tenant != tenant, _shared_with(tenant), *flag):
            if row["name"] not in names and row["name"] not in seen:
                seen.add(row["name"])
                shared.append(self._saved(row, True))
        return sorted([self._saved(r) for r in own] + shared, key=lambda w: w.name)

    # -- changes ------------------------------------------------------------------------------

    async def set_enabled(self, name: str, enabled: bool, *, tenant: str | None = None) -> SavedWorkflow:
        row = await self._writable(name, tenant)
        await self._k.journal.execute(_SET_ENABLED, {"flag": int(enabled), "at": now(), "of_tenant": row["tenant"],
                                                     "of_name": row["name"]})
        await self._emit("workflow.enabled" if enabled else "workflow.disabled", row["tenant"], row["name"], {})
        return self._saved(await self._own(row["tenant"], row["name"]))

    async def delete(self, name: str, *, tenant: str | None = None) -> None:
        """Forget the workflow's name and shares; its versions stay, because past runs refer to them."""
        row = await self._writable(name, tenant)
        self._k.journal.execute(_UNSHARE_ALL, {"of_owner": row["tenant"], "of_name": row["name"]})
        await self._k.journal.execute(_DELETE, {"of_tenant": row["tenant"], "of_name": row["name"]})
        await self._emit("workflow.deleted", row["tenant"], row["name"], {})

    async def versions(self, name: str, *, tenant: str | None = None) -> list[dict]:
        row, _ = await self._find(name, tenant)
        h = workflow_history.c
        rows = await self._k.sql.read(sa.select(h.hash, h.created, h.created_by)
                                      .where(h.tenant == row["tenant"], h.name == row["name"])
                                      .order_by(h.created.desc(), h.hash))
        return [{"hash": r.hash, "created": r.created, "created_by": r.created_by or ""} for r in rows]

    # -- sharing (the operator's admins) ------------------------------------------------------

    async def share(self, ref: str, with_tenant: str, *, by: str = "") -> list[str]:
        """Let ``with_tenant`` ('*': every tenant) read and run the workflow ``ref``; return its shares."""
        if not with_tenant or not with_tenant.strip():
            raise ConfigError("name the tenant to share with ('*' for every tenant).", hint='{"tenant": "acme"}')
        row, _ = await self._find(ref, None)
        if with_tenant == row["tenant"]:
            raise ConfigError(f"the workflow {ref!r} already belongs to tenant {with_tenant!r}.")
        await self._k.journal.upsert("workflow_shares", {"owner": row["tenant"], "name": row["name"],
                                                          "tenant": with_tenant, "created": now(), "created_by": by or None})
        await self._emit("workflow.shared", row["tenant"], row["name"], {"with": with_tenant})
        return await self.shares(ref)

    async def unshare(self, ref: str, with_tenant: str) -> list[str]:
        row, _ = await self._find(ref, None)
        await self._k.journal.execute(_UNSHARE, {"of_owner": row["tenant"], "of_name": row["name"],
                                                 "of_tenant": with_tenant})
        await self._emit("workflow.unshared", row["tenant"], row["name"], {"with": with_tenant})
        return await self.shares(ref)

    async def shares(self, ref: str) -> list[str]:
        """The tenants the workflow ``ref`` is shared with ('*': every tenant)."""
        row, _ = await self._find(ref, None)
        s = workflow_shares.c
        tenants = await self._k.sql.read(sa.select(s.tenant).where(s.owner == row["tenant"], s.name == row["name"]))
        return sorted(r.tenant for r in tenants)  # by code point, as SQLite orders text

    async def _emit(self, kind: str, scope: str, name: str, data: dict) -> None:
        # The subject is the ref (triggers restart by it); live subscribers are filtered on 'tenant'.
        await self._k.emit(kind, workflow_ref(scope, name), {**data, "name": name, "tenant": scope})
