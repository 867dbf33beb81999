"""Finding and loading plugins: entry points in the group ``paperchain``, guarded.

A plugin that fails to import, or whose hooks do not match the specs, is recorded as ``failed``
with its error and a one-line fix; the rest keep working. With PAPERCHAIN_STRICT_PLUGINS=1 any
failure is fatal instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import traceback
from typing import Any

import attrs
import pluggy

from paperchain_sdk import ConfigError, hookspecs

from .config import Config

GROUP = "paperchain"


@attrs.define
class PluginInfo:
    """One plugin as ``paperchain plugins list`` shows it."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    status: str = "active"  # active | disabled | failed
    error: str = ""
    fix: str = ""
    components: dict[str, list[str]] = attrs.Factory(dict)
    detail: str = attrs.field(default="", repr=False)  # the traceback, for --debug

    @property
    def label(self) -> str:
        return f"{self.distribution or self.name} {self.version}".strip()


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _fix_for(exc: BaseException, info: PluginInfo) -> str:
    dist = info.distribution or info.name
    if isinstance(exc, ModuleNotFoundError) and exc.name and not info.module.startswith(exc.name):
        return f"pip install {exc.name.split('.')[0]} (a library {dist} needs), or disable it: PAPERCHAIN_DISABLE_PLUGINS={info.name}"
    if isinstance(exc, pluggy.PluginValidationError):
        return f"upgrade {dist} to a release made for this paperchain-sdk, or disable it: PAPERCHAIN_DISABLE_PLUGINS={info.name}"
    return f"reinstall it (pip install --force-reinstall {dist}) or disable it: PAPERCHAIN_DISABLE_PLUGINS={info.name}"


def register(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo, *, strict: bool) -> bool:
    """Register an imported plugin object, validating its hooks; record failure on ``info``."""
    try:
        pm.register(plugin, name=info.name)
        # pluggy checks arguments of known hooks; a misspelt hook name would just never be called.
        unknown = sorted(
            name for name in dir(plugin)
            if name.startswith("paperchain_") and name not in _SPEC_NAMES
            and pm.parse_hookimpl_opts(plugin, name) is not None
        )
        if unknown:
            pm.unregister(plugin)
            raise pluggy.PluginValidationError(
                plugin, f"unknown hook(s) {', '.join(unknown)}; the hooks are {', '.join(sorted(_SPEC_NAMES))}"
            )
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party plugin is recorded
        _fail(info, exc, strict)
        return False
    return True


_SPEC_NAMES = {name for name in dir(hookspecs) if name.startswith("paperchain_")}


def _fail(info: PluginInfo, exc: BaseException, strict: bool) -> None:
    info.status = "failed"
    info.error = f"{type(exc).__name__}: {exc}"
    info.fix = _fix_for(exc, info)
    info.detail = "".join(traceback.format_exception(exc))
    if strict:
        raise ConfigError(
            f"Plugin {info.name!r} ({info.label}) failed to load: {info.error}.",
            hint=f"{info.fix}; or unset PAPERCHAIN_STRICT_PLUGINS to run without it",
        ) from exc


def discover(pm: pluggy.PluginManager, config: Config) -> list[PluginInfo]:
    """Import and register every installed plugin the configuration selects."""
    plugins: list[PluginInfo] = []
    seen: set[str] = set()
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else "",
            version=dist.version if dist else "",
        )
        plugins.append(info)
        if not config.wants(ep.name):
            info.status = "disabled"
            continue
        try:
            plugin = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a SystemExit in a plugin must not stop us either
            if isinstance(exc, KeyboardInterrupt):
                raise
            _fail(info, exc, config.strict)
            continue
        register(pm, plugin, info, strict=config.strict)
    return plugins


def register_objects(pm: pluggy.PluginManager, objects, *, strict: bool = True) -> list[PluginInfo]:
    """Register plugin objects given directly (tests, the SDK's kernel fixture): no entry points."""
    plugins = []
    for obj in objects:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        info = PluginInfo(name=name.rpartition(".")[2].removeprefix("paperchain_"), module=name)
        plugins.append(info)
        register(pm, obj, info, strict=strict)
    return plugins


def import_builtins():
    return importlib.import_module("paperchain.builtins")
