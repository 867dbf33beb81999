"""The workflow editor's TOML: a saved definition written back as text, and each problem placed
at its line and column.

Definitions are kept as JSON (``workflow_versions``), so the editor and the version diff show
them written as TOML by ``dumps``; ``tomllib`` reads the result back to the same definition.
``check`` runs the same parse and validation the CLI and API use and maps each error to a
position: a TOML syntax error carries its own; a validation error names a step, a table or a
key, which ``_Index`` finds in the text.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from typing import Any

import attrs

from paperchain_sdk import ConfigError

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if value is None:  # JSON null has no TOML form; an empty string is the nearest readable value
        return '""'
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _string(value: str) -> str:
    # Text with line breaks (a message body) reads best as a multi-line string.
    if "\n" in value and '"""' not in value and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        return '"""\n' + value.replace("\\", "\\\\") + '"""'
    return json.dumps(value, ensure_ascii=False)


def _table_lines(table: dict) -> list[str]:
    return [f"{_key(k)} = {_string(v) if isinstance(v, str) else _value(v)}" for k, v in table.items()]


def _with_subtables(prefix: str, table: dict) -> list[str]:
    """A table's plain keys, then its larger tables as ``[prefix.key]`` (small ones stay inline)."""
    big = {k: v for k, v in table.items() if isinstance(v, dict) and (len(v) > 2 or len(_value(v)) > 60)}
    lines = _table_lines({k: v for k, v in table.items() if k not in big})
    for key, value in big.items():
        lines += [f"[{prefix}.{_key(key)}]", *_table_lines(value)]
    return lines


def dumps(definition: dict) -> str:
    """A definition as TOML: scalars first, then tables (``[on.folder]``), then arrays of tables
    (``[[steps]]``, a step's larger tables as ``[steps.with]``)."""
    scalars = {k: v for k, v in definition.items()
               if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(i, dict) for i in v))}
    lines = _table_lines(scalars)
    for key, value in definition.items():
        if isinstance(value, dict):
            inner = {k: v for k, v in value.items() if not isinstance(v, dict)}
            nested = {k: v for k, v in value.items() if isinstance(v, dict)}
            if inner or not nested:
                lines += ["", f"[{_key(key)}]", *_table_lines(inner)]
            for sub, table in nested.items():
                lines += ["", f"[{_key(key)}.{_key(sub)}]", *_table_lines(table)]
    for key, value in definition.items():
        if key not in scalars and isinstance(value, list):
            for item in value:
                lines += ["", f"[[{_key(key)}]]", *_with_subtables(_key(key), item)]
    return "\n".join(lines).lstrip("\n") + "\n"


@attrs.frozen
class Problem:
    message: str
    hint: str = ""
    line: int = 1
    column: int = 1
    syntax: bool = False  # a TOML syntax error (the parser's message), not a validation error


_HEADER = re.compile(r"^(\s*)(\[\[?)\s*([^\]]+?)\s*\]\]?")
_ASSIGN = re.compile(r"^(\s*)(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_-]+)\s*=")
_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


class _Index:
    """Where each table and key of the TOML text starts: ``(scope, key) -> (line, column)``.
    A scope is a tuple such as ``("steps", 2)``, ``("steps", 2, "with")`` or ``("on", "folder")``."""

    def __init__(self, text: str):
        self.at: dict[tuple, tuple[int, int]] = {}
        counts: dict[str, int] = {}
        scope: tuple = ()
        in_string = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_string:  # inside a multi-line string: nothing here is a key
                if line.count(in_string) % 2:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header:
                parts = tuple(p.strip().strip('"\'') for p in header.group(3).split("."))
                if header.group(2) == "[[":
                    counts[parts[0]] = counts.get(parts[0], -1) + 1
                    scope = (parts[0], counts[parts[0]], *parts[1:])
                elif parts[0] in counts and len(parts) > 1:  # [steps.with]: the last [[steps]]'s table
                    scope = (parts[0], counts[parts[0]], *parts[1:])
                else:
                    scope = parts
                self.at.setdefault((scope, None), (number, len(header.group(1)) + 1))
                continue
            assign = _ASSIGN.match(line)
            if assign:
                key = assign.group(2).strip('"\'').split(".")[0]
                self.at.setdefault((scope, key), (number, len(assign.group(1)) + 1))
                rest = line[assign.end():]
                for inner in _INLINE_KEY.finditer(rest):  # with = { seconds = 1 }
                    self.at.setdefault(((*scope, key), inner.group(1)), (number, assign.end() + inner.start(1) + 1))
            for quote in ('"""', "'''"):
                if line.count(quote) % 2:
                    in_string = quote
        self.lines = text.splitlines()

    def find(self, scope: tuple, key: str | None) -> tuple[int, int] | None:
        return self.at.get((scope, key))

    def search(self, fragment: str) -> tuple[int, int] | None:
        for number, line in enumerate(self.lines, 1):
            found = line.find(fragment)
            if found >= 0:
                return number, found + 1
        return None


def _scope(message: str, definition: dict) -> tuple:
    """The table a validation message is about, from the names it quotes."""
    step = re.search(r"step '([^']*)'", message)
    scope: tuple = ()
    if step:
        for array in ("steps", "batch-steps"):
            tables = definition.get(array)
            for i, table in enumerate(tables if isinstance(tables, list) else []):
                if isinstance(table, dict) and table.get("id") == step.group(1):
                    scope = (array, i)
                    break
            if scope:
                break
    indexed = re.search(r"\b(steps|batch-steps)\[(\d+)\]", message)
    if indexed:
        scope = (indexed.group(1), int(indexed.group(2)))
    trigger = re.search(r"\[on\.([A-Za-z0-9_-]+)\]|the trigger '([^']+)'", message)
    if trigger:
        scope = ("on", trigger.group(1) or trigger.group(2))
    if "table [with]" in message or ", with:" in message:
        scope = (*scope, "with")
    elif ", retry" in message:
        scope = (*scope, "retry")
    return scope


def _keys(part: str) -> list[str]:
    """Keys a message (or one part of a settings message) names, most specific first."""
    keys = re.findall(r"unknown key\(s\) ([A-Za-z0-9_-]+)", part)
    keys += re.findall(r"\bneeds '", part) and ["needs"]
    keys += re.findall(r"'([A-Za-z0-9_-]+)' (?:must|in 'on')", part)
    field = re.match(r"\s*([A-Za-z0-9_-]+)(?:\.[^:]*)?:\s", part)
    if field:
        keys += [field.group(1), field.group(1).replace("_", "-")]
    if "needs an id" in part:
        keys.append("id")
    if "works on a whole batch" in part or "No installed plugin" in part:
        keys.append("uses")
    return keys


def _place(index: _Index, part: str, scope: tuple, whole: str) -> tuple[int, int]:
    for key in _keys(part):
        for where in (scope, scope[:-1] if scope and scope[-1] in ("with", "retry") else None):
            if where is None:
                continue
            found = index.find(where, key) or (index.find(where, key.replace("-", "_")))
            if found:
                return found
    for depth in range(len(scope), 0, -1):  # the table itself, or the key that holds it inline
        found = index.find(scope[:depth], None) or (index.find(scope[:depth - 1], scope[depth - 1]) if depth > 1 else None)
        if found:
            return found
    for fragment in re.findall(r"`([^`]+)`|'([^']+)'", whole):  # e.g. an expression quoted in the message
        found = index.search(fragment[0] or fragment[1])
        if found:
            return found
    return 1, 1


def locate(exc: ConfigError, text: str, definition: dict) -> list[Problem]:
    """A validation error as problems at their lines: a settings error lists each field's own."""
    index = _Index(text)
    message, hint = exc.message, exc.hint or ""
    scope = _scope(message, definition)
    head, sep, details = message.partition("table [with]: ")
    if not sep:
        head, sep, details = message.partition(", with: ")
    if sep and "; " in details:
        parts = [p.strip().rstrip(".") for p in details.split("; ")]
        return [Problem(message=f"{head}{sep}{p}.", hint=hint, line=line, column=column)
                for p in parts for line, column in [_place(index, p, scope, message)]]
    line, column = _place(index, details if sep else message, scope, message)
    return [Problem(message=message, hint=hint, line=line, column=column)]


def name_position(text: str) -> tuple[int, int]:
    """Where the workflow's ``name`` is set (the top of the text if nowhere)."""
    return _Index(text).find((), "name") or (1, 1)


def check(text: str, validate: Callable[[dict], Any]) -> tuple[dict | None, Any, list[Problem]]:
    """``(definition, workflow, problems)``: the text parsed and validated by ``validate`` (the
    kernel's, as the CLI and API use it); problems is empty when it is valid."""
    try:
        definition = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = _AT.search(str(exc))
        line, column = (int(position.group(1)), int(position.group(2))) if position else (1, 1)
        return None, None, [Problem(message=_AT.sub("", str(exc)), line=line, column=column, syntax=True)]
    try:
        return definition, validate(definition), []
    except ConfigError as exc:
        return definition, None, locate(exc, text, definition)
