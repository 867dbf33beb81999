"""Named, versioned models: files in the kernel's blob store, metadata in ``models_*`` tables
(the host's plugin storage, ``storage.py``).

A version's stage is "" (registered), "staging", "production" or "archived". Promoting a version
to production archives the one there and records the change, so ``rollback`` can restore it.

Every model belongs to a tenant (``''``: the deployment's own, registered by the operator). Two
tenants may each have a model of the same name. A tenant reads its own models and, read-only, the
deployment's; it changes only its own. The operator reads and changes every tenant's, naming a
tenant's model ``tenant:name``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import types
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from paperchain_sdk import ConflictError, InputError, NotFoundError, PermissionDenied

from .storage import stage_changes
from .storage import versions as versions_table

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
STAGES = ("staging", "production")


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


_FIELDS = ("name", "version", "kind", "task", "sha256", "size", "inputs", "outputs", "labels", "metrics", "training",
           "created", "created_by", "stage", "tenant")
_SELECT = sa.select(*(versions_table.c[name] for name in _FIELDS))


def _scope(tenant: str, name: str):
    return sa.and_(versions_table.c.tenant == tenant, versions_table.c.name == name)


class Registry:
    """Model versions and their stages, per tenant, in the host's plugin storage (async).

    Every method takes ``tenant``, the scope the model belongs to (``''``: the deployment's). Reads
    (``versions``, ``get``, ``resolve``) fall back to the deployment's model of that name when the
    tenant has none, so an operator's model serves every tenant; writes never do (``writable``).
    Each change (a new version, a promotion, a rollback) is one transaction.
    """

    def __init__(self, store: Any, blobs: Any):
        self.store = store  # paperchain_sdk.storage.StorageAPI
        self.blobs = blobs

    # -- adding --------------------------------------------------------------------------------------

    async def import_onnx(self, name: str, data: bytes, *, created_by: str = "", task: str = "",
                          labels: list | None = None, tenant: str = "") -> ModelVersion:
        """Check an ONNX file with onnx.checker, read its inputs and outputs, store it as a new version."""
        from .onnx_io import describe_onnx

        check_name(name)
        inputs, outputs = await asyncio.to_thread(describe_onnx, data)
        return await self.add(name, data, kind="onnx", task=task, inputs=inputs, outputs=outputs,
                              labels=labels or [], created_by=created_by, tenant=tenant)

    async def add(self, name: str, data: bytes, *, kind: str, task: str, inputs: list, outputs: list,
                  labels: list = (), metrics: dict | None = None, training: dict | None = None, created_by: str = "",
                  tenant: str = "") -> ModelVersion:
        check_name(name)
        digest, size, _ = await asyncio.to_thread(self.blobs.put_bytes, data)
        row = {"tenant": tenant, "name": name, "kind": kind, "task": task, "sha256": digest, "size": size,
               "inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "labels": json.dumps(list(labels)),
               "metrics": json.dumps(metrics or {}), "training": json.dumps(training or {}), "created": now(),
               "created_by": created_by, "stage": ""}
        # The next number and its row in one statement: atomic on its own, one trip to the database.
        following = (sa.select(sa.func.coalesce(sa.func.max(versions_table.c.version), 0) + 1)
                     .where(_scope(tenant, name)).scalar_subquery())
        insert = sa.insert(versions_table).values(**row, version=following).returning(versions_table.c.version)
        for attempt in range(5):
            try:
                number = (await self.store.write(insert)).scalar()
                break
            except sa.exc.IntegrityError:  # PostgreSQL: a concurrent writer took that number first
                if attempt == 4:
                    raise
        return _version(types.SimpleNamespace(**row, version=number))  # as a read would give it back

    # -- scopes --------------------------------------------------------------------------------------

    async def _has(self, tenant: str, name: str) -> bool:
        return await self.store.scalar(sa.select(sa.literal(1)).where(_scope(tenant, name)).limit(1)) is not None

    async def owner(self, name: str, tenant: str) -> str:
        """Whose model ``name`` a caller of ``tenant`` reads: its own, else the deployment's."""
        if tenant and not await self._has(tenant, name) and await self._has("", name):
            return ""
        return tenant

    async def writable(self, name: str, tenant: str) -> None:
        """Refuse a tenant's change to the deployment's shared model (it may read it, not change it;
        importing or training a version of its own under that name is not a change to it)."""
        if tenant and await self.owner(name, tenant) == "":
            raise PermissionDenied(f"model {name!r} is the deployment's, shared read-only with every tenant.",
                                   hint="train or import a model of your own (the same name is fine: yours "
                                        "then takes its place for your tenant)")

    # -- reading -------------------------------------------------------------------------------------

    async def names(self, tenant: str = "") -> list[dict]:
        """The models a caller of ``tenant`` sees: its own and the deployment's it has no own of the
        same name ('' : every tenant's, the operator)."""
        c = versions_table.c
        query = (sa.select(c.tenant, c.name, sa.func.count(), sa.func.max(c.version),
                           sa.func.max(sa.case((c.stage == "production", c.version))),
                           sa.func.max(sa.case((c.stage == "staging", c.version))))
                 .group_by(c.tenant, c.name).order_by(c.name, c.tenant))
        if tenant:
            query = query.where(c.tenant.in_((tenant, "")))
        rows = await self.store.read(query)
        mine = {r[1] for r in rows if r[0] == tenant}
        return [{"name": r[1], "tenant": r[0], "ref": f"{r[0]}:{r[1]}" if r[0] else r[1], "versions": r[2],
                 "latest": r[3], "production": r[4], "staging": r[5]}
                for r in rows if not (tenant and r[0] == "" and r[1] in mine)]

    async def versions(self, name: str, *, tenant: str = "") -> list[ModelVersion]:
        tenant = await self.owner(name, tenant)
        rows = await self.store.read(_SELECT.where(_scope(tenant, name)).order_by(versions_table.c.version))
        if not rows:
            raise NotFoundError(f"There is no model {name!r}.", hint="`paperchain models list` shows the models")
        return [_version(r) for r in rows]

    async def get(self, name: str, version: int, *, tenant: str = "") -> ModelVersion:
        tenant = await self.owner(name, tenant)
        rows = await self.store.read(_SELECT.where(_scope(tenant, name), versions_table.c.version == version))
        if not rows:
            raise NotFoundError(f"Model {name!r} has no version {version}.",
                                hint=f"`paperchain models show {name}` lists its versions")
        return _version(rows[0])

    async def resolve(self, name: str, version: str | int | None = "", *, tenant: str = "") -> ModelVersion:
        """A version by number, by stage ("production", "staging"), or by default: production, else the newest."""
        if version in (None, "", "latest") or version in STAGES:
            listed = await self.versions(name, tenant=tenant)
            if version in STAGES:
                staged = [v for v in listed if v.stage == version]
                if not staged:
                    raise NotFoundError(f"Model {name!r} has no version in {version}.",
                                        hint=f"promote one: `paperchain models promote {name} VERSION {version}`")
                return staged[-1]
            production = [v for v in listed if v.stage == "production"]
            return (production or listed)[-1] if version != "latest" else listed[-1]
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise InputError(f"version {version!r} is not a number, 'latest', 'staging' or 'production'.",
                             hint="give e.g. 3, or leave it empty for the production version") from None
        return await self.get(name, number, tenant=tenant)

    def path(self, version: ModelVersion) -> Path:
        return self.blobs.path(version.sha256)

    # -- stages --------------------------------------------------------------------------------------

    async def promote(self, name: str, version: int, stage: str, *, by: str = "", tenant: str = "") -> ModelVersion:
        if stage not in STAGES:
            raise InputError(f"stage {stage!r} is not known.", hint="use 'staging' or 'production'")
        await self.writable(name, tenant)
        target = await self.get(name, version, tenant=tenant)
        async with self.store.transaction() as tx:
            previous = (await tx.execute(sa.select(versions_table.c.version)
                                         .where(_scope(tenant, name), versions_table.c.stage == stage))).scalar()
            if previous == target.version:
                return target
            await tx.execute(sa.update(versions_table).where(_scope(tenant, name), versions_table.c.stage == stage)
                             .values(stage="archived"))
            await tx.execute(sa.update(versions_table).where(_scope(tenant, name), versions_table.c.version == version)
                             .values(stage=stage))
            await tx.execute(sa.insert(stage_changes).values(tenant=tenant, name=name, stage=stage, version=version,
                                                             previous=previous, changed=now(), changed_by=by))
        return await self.get(name, version, tenant=tenant)

    async def rollback(self, name: str, stage: str = "production", *, by: str = "", tenant: str = "") -> ModelVersion:
        """Undo the last promotion to ``stage``: the version that was there before comes back."""
        await self.writable(name, tenant)
        await self.versions(name, tenant=tenant)
        c = stage_changes.c
        async with self.store.transaction() as tx:
            row = (await tx.execute(sa.select(c.id, c.version, c.previous)
                                    .where(c.tenant == tenant, c.name == name, c.stage == stage, c.undone == 0)
                                    .order_by(c.id.desc()).limit(1))).first()
            if row is None or row.previous is None:
                raise ConflictError(f"Model {name!r} has no earlier {stage} version to roll back to.",
                                    hint="promote a version explicitly instead")
            change_id, version, previous = row
            exists = (await tx.execute(sa.select(versions_table.c.version)
                                       .where(_scope(tenant, name), versions_table.c.version == previous))).first()
            if exists is None:
                raise ConflictError(f"Version {previous} of {name!r}, which was in {stage} before, has been deleted.",
                                    hint="promote another version explicitly")
            await tx.execute(sa.update(versions_table).where(_scope(tenant, name), versions_table.c.version == version)
                             .values(stage="archived"))
            await tx.execute(sa.update(versions_table).where(_scope(tenant, name), versions_table.c.version == previous)
                             .values(stage=stage))
            await tx.execute(sa.update(stage_changes).where(c.id == change_id).values(undone=1))
            await tx.execute(sa.insert(stage_changes).values(tenant=tenant, name=name, stage=stage, version=previous,
                                                             previous=version, changed=now(), changed_by=by, undone=1))
        return await self.get(name, previous, tenant=tenant)

    async def delete(self, name: str, version: int | None = None, *, force: bool = False,
                     tenant: str = "") -> list[int]:
        """Delete one version (or every version); a production version only with ``force``."""
        await self.writable(name, tenant)
        victims = [v for v in await self.versions(name, tenant=tenant) if version is None or v.version == version]
        if not victims:
            await self.get(name, version, tenant=tenant)  # raises NotFoundError
        live = [v.version for v in victims if v.stage == "production"]
        if live and not force:
            raise ConflictError(f"Version {live[0]} of {name!r} is in production.",
                                hint="promote or roll back another version first, or delete with force")
        numbers = [v.version for v in victims]
        await self.store.write(sa.delete(versions_table).where(_scope(tenant, name), versions_table.c.version.in_(numbers)))
        # Blobs stay: the store is content-addressed and another version may share the bytes.
        return numbers


def _version(row) -> ModelVersion:
    return ModelVersion(name=row.name, version=row.version, kind=row.kind, task=row.task, sha256=row.sha256,
                        size=row.size, inputs=json.loads(row.inputs), outputs=json.loads(row.outputs),
                        labels=json.loads(row.labels), metrics=json.loads(row.metrics),
                        training=json.loads(row.training), created=row.created, created_by=row.created_by,
                        stage=row.stage, tenant=row.tenant)
