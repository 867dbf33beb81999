"""Saved workflows: what the API and triggers run by name.

A workflow saved here has a current version (its definition's SHA-256, kept in
``workflow_versions`` with every earlier one) and an ``enabled`` flag; a disabled workflow keeps
its versions but starts no runs. ``paperchain serve`` saves every file in ``workflows_dir`` at
start-up, so editing a file and restarting makes a new version.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import attrs

from paperchain_sdk import ConfigError, ConflictError, NotFoundError

from .documents import now


@attrs.frozen(kw_only=True)
class SavedWorkflow:
    name: str
    hash: str
    enabled: bool
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


class Workflows:
    def __init__(self, kernel):
        self._k = kernel

    def validate(self, definition: dict, *, origin: str = "request body"):
        """The parsed Workflow, or ConfigError with the same message the CLI gives."""
        from .engine.workflow import build_workflow

        return build_workflow(definition, origin=origin, registry=self._k.registry, triggers=self._k.trigger_names())

    async def save(self, definition: dict, *, origin: str = "api", created_by: str = "",
                   name: str | None = None, create_only: bool = False) -> SavedWorkflow:
        """Validate and save a definition as the workflow's current version (a no-op if unchanged)."""
        workflow = self.validate(definition, origin=origin)
        if name is not None and workflow.name != name:
            raise ConfigError(f"the definition is named {workflow.name!r} but was sent to {name!r}.",
                              hint="make the URL and the definition's 'name' agree")
        current = await self._row(workflow.name)
        if create_only and current is not None:
            raise ConflictError(f"a workflow named {workflow.name!r} exists.",
                                hint=f"PUT /api/v1/workflows/{workflow.name} replaces it")
        stamp = now()
        await self._k.engine._save_workflow(workflow, created_by=created_by)
        await self._k.journal.upsert("workflows", {
            "name": workflow.name, "hash": workflow.hash, "enabled": 1 if current is None else current["enabled"],
            "created": current["created"] if current else stamp, "updated": stamp,
            "created_by": current["created_by"] if current else created_by, "origin": origin, "tenant": None,
        })
        if current is None or current["hash"] != workflow.hash:
            await self._k.emit("workflow.saved", workflow.name, {"hash": workflow.hash, "origin": origin})
        return await self.get(workflow.name)

    async def load_dir(self, folder: Path) -> list[str]:
        """Save every workflow file in a folder; return the names saved. A bad file is logged, not fatal."""
        import logging

        saved = []
        for path in sorted(list(folder.glob("*.toml")) + list(folder.glob("*.json"))):
            try:
                text = path.read_text(encoding="utf-8")
                media = "toml" if path.suffix == ".toml" else "json"
                saved.append((await self.save(parse_definition(text, media), origin=str(path), created_by="files")).name)
            except ConfigError as exc:
                logging.getLogger(__name__).error("workflow %s not loaded: %s", path, exc)
        return saved

    async def _row(self, name: str) -> dict | None:
        async with self._k.db.execute(
            "SELECT w.name, w.hash, w.enabled, w.created, w.updated, w.created_by, w.origin, v.definition "
            "FROM workflows w JOIN workflow_versions v ON v.hash = w.hash WHERE w.name = ?", (name,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        keys = ("name", "hash", "enabled", "created", "updated", "created_by", "origin", "definition")
        return dict(zip(keys, row))

    @staticmethod
    def _saved(row: dict) -> SavedWorkflow:
        definition = json.loads(row["definition"])
        on = definition.get("on", {"manual": {}})
        return SavedWorkflow(
            name=row["name"], hash=row["hash"], enabled=bool(row["enabled"]), created=row["created"],
            updated=row["updated"], created_by=row["created_by"] or "", origin=row["origin"] or "",
            description=str(definition.get("description", "")),
            triggers=tuple(on if isinstance(on, (dict, list)) else ()),
            steps=tuple(str(s.get("id", "")) for s in definition.get("steps", []) if isinstance(s, dict)),
            definition=definition,
        )

    async def get(self, name: str) -> SavedWorkflow:
        row = await self._row(name)
        if row is None:
            raise NotFoundError(f"there is no workflow named {name!r}.", hint="GET /api/v1/workflows lists them")
        return self._saved(row)

    async def workflow(self, name: str):
        """The current version as an engine Workflow, refusing a disabled one."""
        saved = await self.get(name)
        if not saved.enabled:
            raise ConflictError(f"the workflow {name!r} is disabled.", hint=f"enable it: POST /api/v1/workflows/{name}/enable")
        return await self._k.engine._workflow(saved.hash)

    async def list(self, *, enabled: bool | None = None) -> list[SavedWorkflow]:
        sql = ("SELECT w.name, w.hash, w.enabled, w.created, w.updated, w.created_by, w.origin, v.definition "
               "FROM workflows w JOIN workflow_versions v ON v.hash = w.hash")
        if enabled is not None:
            sql += f" WHERE w.enabled = {int(enabled)}"
        async with self._k.db.execute(sql + " ORDER BY w.name") as cursor:
            rows = await cursor.fetchall()
        keys = ("name", "hash", "enabled", "created", "updated", "created_by", "origin", "definition")
        return [self._saved(dict(zip(keys, r))) for r in rows]

    async def set_enabled(self, name: str, enabled: bool) -> SavedWorkflow:
        await self.get(name)
        await self._k.journal.execute("UPDATE workflows SET enabled = ?, updated = ? WHERE name = ?", (int(enabled), now(), name))
        await self._k.emit("workflow.enabled" if enabled else "workflow.disabled", name, {})
        return await self.get(name)

    async def delete(self, name: str) -> None:
        """Forget the workflow's name; its versions stay, because past runs refer to them."""
        await self.get(name)
        await self._k.journal.execute("DELETE FROM workflows WHERE name = ?", (name,))
        await self._k.emit("workflow.deleted", name, {})

    async def versions(self, name: str) -> list[dict]:
        await self.get(name)
        async with self._k.db.execute(
            "SELECT hash, created, created_by FROM workflow_versions WHERE name = ? ORDER BY created DESC", (name,),
        ) as cursor:
            return [{"hash": h, "created": c, "created_by": b or ""} for h, c, b in await cursor.fetchall()]
