"""Workflow definitions: parsed from TOML (or the same structure as JSON), then validated.

Validation catches what can be caught before anything runs: unknown keys, wrong types, duplicate
step ids, ``needs`` naming no step, dependency cycles, unknown components (with the closest
installed name), settings of the wrong type, and malformed expressions.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import attrs

from paperchain_sdk import ConfigError, durations
from paperchain_sdk.contracts import STEP_METHOD
from paperchain_sdk.retry import RetryPolicy
from paperchain_sdk.settings import structure_settings

from ..tomlfile import load_toml, parse_toml
from . import expressions

STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def parse_duration(value: Any, *, where: str) -> float | None:
    """A step's duration in seconds (the SDK's one grammar: ``30``, ``"30s"``, ``"5m"``, ``"7d"``); None stays None."""
    return None if value is None else durations.parse_duration(value, where=where)


Retry = RetryPolicy  # a step's ``retry`` table: the SDK's one retry policy


@attrs.frozen
class Step:
    id: str
    uses: str
    with_: dict[str, Any] = attrs.Factory(dict)
    needs: tuple[str, ...] = ()
    if_: str | None = None
    retry: Retry = attrs.field(factory=Retry)
    timeout: float | None = None
    priority: int = 0
    continue_on_error: bool = False
    name: str = ""
    cache: bool = True  # reuse a deterministic component's earlier result (see cache.py)
    cache_ttl: float | None = None  # seconds an earlier result stays reusable (None: no bound)


@attrs.frozen
class Workflow:
    name: str
    steps: tuple[Step, ...]
    batch_steps: tuple[Step, ...] = ()
    description: str = ""
    on: dict[str, Any] = attrs.Factory(dict)
    inputs: dict[str, Any] = attrs.Factory(dict)
    env: dict[str, str] = attrs.Factory(dict)
    concurrency: int | None = None
    definition: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    hash: str = ""  # SHA-256 of the definition: which exact version a run used

    def step(self, step_id: str) -> Step:
        for step in (*self.steps, *self.batch_steps):
            if step.id == step_id:
                return step
        raise KeyError(step_id)


_WORKFLOW_KEYS = {"name", "description", "on", "steps", "batch-steps", "inputs", "env", "concurrency"}
_STEP_KEYS = {"id", "uses", "with", "needs", "if", "retry", "timeout", "priority", "continue-on-error", "name",
              "cache", "cache-ttl", "cache_ttl"}
_RETRY_KEYS = {"attempts", "backoff", "factor", "max-delay", "jitter"}


def load_workflow(source: str | Path | dict, *, registry=None, triggers: set[str] | None = None) -> Workflow:
    """Read a workflow from a TOML file path, TOML text, or a dict; validate it."""
    if isinstance(source, dict):
        data, origin = source, "the workflow"
    elif isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith((".toml", ".json"))):
        path = Path(source)
        origin = str(path)
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"The workflow file {path} does not exist.", hint="check the path") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path} is not valid JSON: {exc.msg} (at line {exc.lineno}, column {exc.colno}).") from None
        else:
            data = load_toml(path, "workflow file")
    else:
        data, origin = parse_toml(source, "the workflow"), "the workflow"
    return build_workflow(data, origin=origin, registry=registry, triggers=triggers)


def build_workflow(data: dict, *, origin: str, registry=None, triggers: set[str] | None = None) -> Workflow:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must be a table (a JSON object), not {type(data).__name__}.")
    _no_unknown(data, _WORKFLOW_KEYS, origin)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{origin} has no name.", hint='add  name = "my-workflow"  at the top')
    where = f"workflow {name!r} ({origin})"
    steps = _steps(data.get("steps"), where, "steps", required=True)
    batch_steps = _steps(data.get("batch-steps", []), where, "batch-steps", required=False)
    _check_graph(steps, where, "steps")
    _check_graph(batch_steps, where, "batch-steps")
    on = data.get("on", {"manual": {}})
    if isinstance(on, list):
        on = {trigger: {} for trigger in on}
    if not isinstance(on, dict):
        raise ConfigError(f"{where}: 'on' must be a table of triggers, e.g. [on.manual].")
    concurrency = data.get("concurrency")
    if concurrency is not None and (not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1):
        raise ConfigError(f"{where}: concurrency must be a whole number of at least 1, got {concurrency!r}.")
    for key in ("inputs", "env"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{where}: {key!r} must be a table.")
    workflow = Workflow(
        name=name.strip(), steps=steps, batch_steps=batch_steps, description=str(data.get("description", "")),
        on=on, inputs=dict(data.get("inputs", {})), env={k: str(v) for k, v in data.get("env", {}).items()},
        concurrency=concurrency, definition=data,
        hash=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
    )
    if triggers is not None:
        for trigger in on:
            if trigger not in triggers:
                raise ConfigError(
                    f"{where}: the trigger {trigger!r} in 'on' is not installed.",
                    hint=f"installed triggers: {', '.join(sorted(triggers))}",
                )
    if registry is not None:
        for trigger, table in on.items():
            _check_trigger(trigger, table, registry, where)
        for step in steps:
            _check_component(step, registry, where, batch=False)
        for step in batch_steps:
            _check_component(step, registry, where, batch=True)
    return workflow


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}.", hint=f"allowed keys: {', '.join(sorted(allowed))}")


def _steps(raw: Any, where: str, key: str, *, required: bool) -> tuple[Step, ...]:
    if raw is None or raw == []:
        if required:
            raise ConfigError(f"{where} has no steps.", hint="add at least one [[steps]] table with an id and uses")
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise ConfigError(f"{where}: {key!r} must be an array of tables ([[{key}]]).")
    steps, seen = [], set()
    for index, table in enumerate(raw):
        label = f"{where}, {key}[{index}]"
        step_id = table.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            raise ConfigError(f"{label}: every step needs an id of letters, digits, '-' and '_', got {step_id!r}.")
        label = f"{where}, step {step_id!r}"
        if step_id in seen:
            raise ConfigError(f"{label}: the id {step_id!r} is used by two steps.", hint="give each step its own id")
        seen.add(step_id)
        steps.append(_step(table, label))
    return tuple(steps)


def _step(table: dict, label: str) -> Step:
    _no_unknown(table, _STEP_KEYS, label)
    uses = table.get("uses")
    if not isinstance(uses, str) or not uses:
        raise ConfigError(f"{label} has no 'uses'.", hint='name the component it runs, e.g. uses = "export.pdf"')
    with_ = table.get("with", {})
    if not isinstance(with_, dict):
        raise ConfigError(f"{label}: 'with' must be a table of settings.")
    needs = table.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise ConfigError(f"{label}: 'needs' must be a step id or a list of step ids.")
    retry = table.get("retry", {})
    if isinstance(retry, int) and not isinstance(retry, bool):
        retry = {"attempts": retry}
    if not isinstance(retry, dict):
        raise ConfigError(f"{label}: 'retry' must be a number of attempts or a table.")
    _no_unknown(retry, _RETRY_KEYS, f"{label}, retry")
    retry_obj = structure_settings(Retry, retry, where=f"{label}, retry").check(f"{label}, retry")
    condition = table.get("if")
    if condition is not None and not isinstance(condition, str):
        raise ConfigError(f"{label}: 'if' must be an expression string.")
    if condition:
        expressions.compile_expression(expressions.EXPRESSION.fullmatch(condition.strip()).group(1)
                                       if expressions.EXPRESSION.fullmatch(condition.strip()) else condition)
    for key, kind in (("priority", int), ("continue-on-error", bool), ("name", str), ("cache", bool)):
        if key in table and (not isinstance(table[key], kind) or (kind is int and isinstance(table[key], bool))):
            raise ConfigError(f"{label}: {key!r} must be a {kind.__name__}, got {table[key]!r}.")
    try:
        expressions.check(with_)
    except ConfigError as exc:
        raise ConfigError(f"{label}, with: {exc.message}") from None
    return Step(
        id=table["id"], uses=uses, with_=with_, needs=tuple(needs), if_=condition, retry=retry_obj,
        timeout=parse_duration(table.get("timeout"), where=f"{label}, timeout"),
        priority=table.get("priority", 0), continue_on_error=table.get("continue-on-error", False),
        name=table.get("name", ""), cache=table.get("cache", True), cache_ttl=_cache_ttl(table, label),
    )


def _cache_ttl(table: dict, label: str) -> float | None:
    if "cache-ttl" in table and "cache_ttl" in table:
        raise ConfigError(f"{label}: write the cache's lifetime once, as cache-ttl.")
    value = table.get("cache-ttl", table.get("cache_ttl"))
    return parse_duration(value, where=f"{label}, cache-ttl")


def _check_graph(steps: tuple[Step, ...], where: str, key: str) -> None:
    ids = {s.id for s in steps}
    graph = {}
    for step in steps:
        for need in step.needs:
            if need not in ids:
                raise ConfigError(
                    f"{where}, step {step.id!r} needs {need!r}, but no step in {key} has that id.",
                    hint=f"the steps are: {', '.join(s.id for s in steps)}",
                )
        graph[step.id] = set(step.needs)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError(f"{where}: the steps depend on each other in a cycle: {cycle}.", hint="remove one of these needs") from None


def _check_trigger(trigger: str, table: Any, registry, where: str) -> None:
    """An ``[on.<trigger>]`` table is checked against the trigger's settings, as a step's ``with`` is."""
    label = f"{where}, table [on.{trigger}]"
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{label} must be a table of the trigger's settings, not {type(table).__name__}.",
                          hint=f"e.g. [on.{trigger}] followed by key = value lines, or {{}} for none")
    if trigger not in registry or registry.get(trigger).kind != "trigger":
        return  # `manual`, or a trigger the installed-triggers check above already judged
    registry.settings_for(registry.get(trigger), table, where=label)


def _check_component(step: Step, registry, where: str, *, batch: bool) -> None:
    label = f"{where}, step {step.id!r}"
    try:
        entry = registry.get(step.uses, kinds=tuple(STEP_METHOD))
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc.message}", hint=exc.hint) from None
    scope = getattr(entry.spec, "scope", "document")
    if scope == "batch" and not batch:
        raise ConfigError(f"{label}: {step.uses!r} works on a whole batch.", hint="put this step under [[batch-steps]]")
    # Literal settings are checked now; values holding expressions only once they are known.
    literal = {k: v for k, v in step.with_.items() if not expressions.has_expression(v)}
    deferred = {k.replace("-", "_") for k in step.with_ if k not in literal}
    try:
        registry.settings_for(entry, literal, where=f"{label}, table [with]")
    except ConfigError as exc:
        if not deferred or not _only_missing(exc, deferred):
            raise


def _only_missing(exc: ConfigError, deferred: set[str]) -> bool:
    return all(any(name in part for name in deferred) and "required" in part for part in exc.message.split("; "))
