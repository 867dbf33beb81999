"""Run one component in isolation: no kernel, no database, just the component and its contract."""

from __future__ import annotations

import asyncio
import inspect
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy

from ..contracts import STEP_METHOD
from ..hookspecs import PROJECT
from ..records import Batch, Document, RunContext
from ..settings import structure_settings
from ..specs import KINDS, ComponentSpec

_REGISTRATION_HOOKS = {kind: f"paperchain_{kind}s" for kind in KINDS}


def plugin_specs(plugin: Any) -> dict[str, ComponentSpec]:
    """Every component spec a plugin module (or object) offers, by name.

    The plugin is validated against the hook specs first, as the kernel does, so a misspelt hook
    or a wrong argument name fails here too.
    """
    from .. import hookspecs

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    specs: dict[str, ComponentSpec] = {}
    for _kind, hook_name in _REGISTRATION_HOOKS.items():
        for batch in getattr(pm.hook, hook_name)():
            for spec in batch or ():
                if spec.name in specs:
                    raise AssertionError(f"{plugin!r} offers {spec.name!r} twice")
                specs[spec.name] = spec
    return specs


def make_document(directory: str | Path, name: str, content: bytes | str, **fields) -> Document:
    """Write ``content`` to ``directory/name`` and describe it as a Document."""
    path = Path(directory) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return Document.from_path(path, **fields)


def build_component(spec: ComponentSpec, settings: Mapping[str, Any] | None = None) -> Any:
    """Construct the component as the kernel does: ``Impl(settings)``."""
    built = structure_settings(spec.settings, settings, where=f"settings of {spec.name!r}")
    return spec.load()(built if spec.settings is not None else None)


def run_component(
    spec: ComponentSpec,
    *,
    document: Document | None = None,
    options: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    batch: Batch | None = None,
    inputs: Mapping[str, Any] | None = None,
    ctx: RunContext | None = None,
) -> Any:
    """Call a step-capable component once, the way a workflow step would, and return its raw result.

    exporters get ``document`` (or ``batch`` when batch-scoped), analyzers ``document``, models
    ``inputs``, actions a RunContext holding ``document``. Async methods are awaited.
    """
    if spec.kind not in STEP_METHOD:
        raise TypeError(f"{spec.name!r} is a {spec.kind}; only {', '.join(STEP_METHOD)} run as steps")
    component = build_component(spec, settings)
    merged = {**(settings or {}), **(options or {})}
    opts = structure_settings(spec.settings, merged, where=f"options of {spec.name!r}")
    with tempfile.TemporaryDirectory(prefix="paperchain-test-") as work_dir:
        if spec.kind == "action":
            ctx = ctx or RunContext(
                run_id="test-run", step_id=spec.name.replace(".", "-"), workflow="test",
                idempotency_key=f"test-run:{spec.name}", document=document, batch=batch,
                inputs=dict(inputs or {}), work_dir=work_dir,
            )
            call: tuple[Any, ...] = (component.run, ctx, opts)
        elif spec.kind == "exporter" and getattr(spec, "scope", "document") == "batch":
            call = (component.export_batch, batch, opts)
        elif spec.kind == "model":
            call = (component.predict, dict(inputs or {}))
        else:
            call = (getattr(component, STEP_METHOD[spec.kind]), document, opts)
        result = call[0](*call[1:])
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result


async def _await(awaitable):
    return await awaitable

