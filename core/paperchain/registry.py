"""The registry: component name -> spec, with the plugin that offers it.

Components are imported and constructed on first use, so listing them costs nothing.
"""

from __future__ import annotations

import difflib
from typing import Any

import attrs
import pluggy

from paperchain_sdk import ConfigError
from paperchain_sdk.settings import structure_settings
from paperchain_sdk.specs import KINDS, SPEC_BY_KIND, ComponentSpec

from .loader import PluginInfo


@attrs.frozen
class Entry:
    spec: ComponentSpec
    plugin: PluginInfo

    @property
    def kind(self) -> str:
        return self.spec.kind


class Registry:
    def __init__(self, components_config: dict[str, dict] | None = None, source: str = "plugins.toml"):
        self._entries: dict[str, Entry] = {}
        self._instances: dict[str, Any] = {}
        self._config = components_config or {}
        self._source = source
        self.conflicts: list[str] = []

    def collect(self, pm: pluggy.PluginManager, plugins: list[PluginInfo]) -> None:
        """Call every registration hook of every active plugin, one plugin at a time."""
        by_name = {p.name: p for p in plugins}
        for kind in KINDS:
            hook = getattr(pm.hook, f"paperchain_{kind}s")
            for impl in hook.get_hookimpls():
                info = by_name.get(impl.plugin_name)
                if info is None or info.status != "active":
                    continue
                try:
                    specs = list(impl.function() or ())
                    for spec in specs:
                        if not isinstance(spec, SPEC_BY_KIND[kind]):
                            raise TypeError(
                                f"paperchain_{kind}s returned {spec!r}; it must return {SPEC_BY_KIND[kind].__name__} records"
                            )
                except Exception as exc:  # noqa: BLE001 - a faulty plugin is recorded, not fatal
                    info.status = "failed"
                    info.error = f"{type(exc).__name__}: {exc}"
                    info.fix = f"report it to the authors of {info.label}, or disable it: PAPERCHAIN_DISABLE_PLUGINS={info.name}"
                    self._drop(info)
                    continue
                for spec in specs:
                    self._add(spec, info)

    def _add(self, spec: ComponentSpec, info: PluginInfo) -> None:
        existing = self._entries.get(spec.name)
        if existing is not None:
            self.conflicts.append(
                f"component {spec.name!r} is offered by both {existing.plugin.label} (plugin {existing.plugin.name!r}) "
                f"and {info.label} (plugin {info.name!r})"
            )
            return
        self._entries[spec.name] = Entry(spec, info)
        info.components.setdefault(spec.kind, []).append(spec.name)

    def _drop(self, info: PluginInfo) -> None:
        for name in [n for n, e in self._entries.items() if e.plugin is info]:
            del self._entries[name]
        info.components.clear()

    def check(self) -> None:
        """Raise when two plugins offer one name: the deployment is ambiguous until one goes."""
        if self.conflicts:
            raise ConfigError(
                "Two plugins offer the same component: " + "; ".join(self.conflicts) + ".",
                hint="uninstall or disable one of them (PAPERCHAIN_DISABLE_PLUGINS=<plugin> or [plugins.<plugin>] enabled = false)",
            )

    # -- lookups ---------------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def entries(self, kind: str | None = None) -> list[Entry]:
        return sorted((e for e in self._entries.values() if kind is None or e.kind == kind), key=lambda e: e.spec.name)

    def get(self, name: str, *, kinds: tuple[str, ...] | None = None) -> Entry:
        entry = self._entries.get(name)
        if entry is None or (kinds and entry.kind not in kinds):
            candidates = [e.spec.name for e in self.entries() if not kinds or e.kind in kinds]
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listing = ", ".join(candidates) if candidates else "none"
            what = " or ".join(kinds) if kinds else "component"
            raise ConfigError(
                f"No installed plugin offers the {what} {name!r}.",
                hint=f"{hint}installed: {listing}. `paperchain components list` shows them with their plugins",
            )
        return entry

    def settings_for(self, entry: Entry, overrides: dict | None = None, *, where: str) -> Any:
        """The component's settings: plugins.toml defaults overlaid with ``overrides``."""
        defaults = self._config.get(entry.spec.name, {})
        merged = {**defaults, **(overrides or {})}
        return structure_settings(entry.spec.settings, merged, where=where)

    def validate_config(self) -> None:
        """Check every [components.<name>] table against its component's settings class."""
        for name, table in self._config.items():
            entry = self.get(name)
            structure_settings(entry.spec.settings, table, where=f"{self._source}, table [components.\"{name}\"]")

    def instance(self, name: str) -> Any:
        """The component, imported and constructed on first use (``Impl(settings)``)."""
        component = self._instances.get(name)
        if component is None:
            entry = self.get(name)
            settings = self.settings_for(entry, where=f"{self._source}, table [components.\"{name}\"]")
            component = entry.spec.load()(settings if entry.spec.settings is not None else None)
            self._instances[name] = component
        return component
