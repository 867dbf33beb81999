"""Typed records that registration hooks return: one per component a plugin offers.

A spec is light: ``impl`` is an import reference (``"package.module:Class"``) resolved only when
the component is first used, so listing plugins never imports their heavy libraries.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, ClassVar

import attrs

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
KINDS = ("trigger", "action", "exporter", "analyzer", "model", "ledger", "notifier")


def _check_name(instance, attribute, value):
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(
            f"component name {value!r} is not valid: use lower-case words separated by dots, "
            "e.g. 'export.pdf' or 'text.keywords'"
        )


def _check_impl(instance, attribute, value):
    if isinstance(value, str):
        module, _, attr = value.partition(":")
        if not module or not attr:
            raise ValueError(f"impl {value!r} of {instance.name!r} must look like 'package.module:Class'")
    elif not callable(value):
        raise ValueError(f"impl of {instance.name!r} must be a class or a 'package.module:Class' reference")


def _check_settings(instance, attribute, value):
    if value is not None and not attrs.has(value):
        raise ValueError(
            f"settings of {instance.name!r} must be an attrs class (decorate it with @attrs.define), "
            f"got {value!r}"
        )


def resolve(ref: str | Any) -> Any:
    """Import ``"package.module:attr"`` and return the attribute; pass objects through."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr_path = ref.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen(kw_only=True)
class ComponentSpec:
    """What every component spec has.

    name:        unique across the deployment; a workflow step names it in ``uses``.
    impl:        the implementation class, or a lazy ``"module:Class"`` reference to it.
    summary:     one line for listings.
    settings:    an attrs class for the component's options (the step's ``with`` table and
                 ``[components.<name>]`` in plugins.toml), or None for no options.
    cpu_bound:   run in the kernel's process pool so the event loop never blocks on it.
    side_effects: the component acts on the world (sends, appends, writes outside the store);
                 the kernel gives it a stable idempotency key and records intent before it runs.
    deterministic: the same settings and inputs on the same document bytes always give the same
                 result (and nothing else happens), so the kernel may reuse an earlier result
                 instead of running it again (the step-result cache; a step turns it off with
                 ``cache = false`` or bounds it with ``cache-ttl = "7d"``). Never set with
                 ``side_effects``; bump the plugin's version when the results would change.
    """

    kind: ClassVar[str] = ""

    name: str = attrs.field(validator=_check_name)
    impl: Any = attrs.field(validator=_check_impl)
    summary: str = ""
    settings: type | None = attrs.field(default=None, validator=_check_settings)
    cpu_bound: bool = False
    side_effects: bool = False
    deterministic: bool = attrs.field(default=False)

    @deterministic.validator
    def _check_deterministic(self, attribute, value):
        if value and self.side_effects:
            raise ValueError(f"{self.name!r} cannot be deterministic and have side effects: "
                             "a cached result would skip the effect")

    def load(self) -> type:
        """Import and return the implementation class."""
        return resolve(self.impl)


@attrs.frozen(kw_only=True)
class TriggerSpec(ComponentSpec):
    """A source of run requests (folder watch, schedule, webhook, event, threshold …)."""

    kind: ClassVar[str] = "trigger"


@attrs.frozen(kw_only=True)
class ActionSpec(ComponentSpec):
    """One step of a workflow that is not an exporter, analyzer or model."""

    kind: ClassVar[str] = "action"


@attrs.frozen(kw_only=True)
class ExporterSpec(ComponentSpec):
    """Turns a document (``scope='document'``) or a whole batch (``scope='batch'``) into a file."""

    kind: ClassVar[str] = "exporter"
    format: str = ""
    media_type: str = "application/octet-stream"
    extension: str = ""
    scope: str = attrs.field(default="document", validator=attrs.validators.in_(("document", "batch")))


@attrs.frozen(kw_only=True)
class AnalyzerSpec(ComponentSpec):
    """Reads a document and returns Findings."""

    kind: ClassVar[str] = "analyzer"


@attrs.frozen(kw_only=True)
class ModelSpec(ComponentSpec):
    """A trained or imported model that predicts."""

    kind: ClassVar[str] = "model"
    task: str = ""


@attrs.frozen(kw_only=True)
class LedgerSpec(ComponentSpec):
    """A tamper-evident append-only log; exactly one is active per deployment."""

    kind: ClassVar[str] = "ledger"


@attrs.frozen(kw_only=True)
class NotifierSpec(ComponentSpec):
    """Delivers messages on one channel (email, webhook, chat, in-app)."""

    kind: ClassVar[str] = "notifier"
    channel: str = ""


@attrs.frozen(kw_only=True)
class CommandSpec:
    """A command-line command a plugin adds under ``paperchain``.

    ``impl`` references a click command or group, imported only when the command runs.
    """

    name: str = attrs.field(validator=_check_name)
    impl: Any = attrs.field(validator=_check_impl)
    summary: str = ""

    def load(self):
        return resolve(self.impl)


SPEC_BY_KIND: dict[str, type[ComponentSpec]] = {
    cls.kind: cls
    for cls in (TriggerSpec, ActionSpec, ExporterSpec, AnalyzerSpec, ModelSpec, LedgerSpec, NotifierSpec)
}
