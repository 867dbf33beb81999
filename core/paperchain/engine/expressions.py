"""``${{ … }}`` expressions, evaluated in Jinja2's immutable sandbox: user text is never executed.

Syntax follows GitHub Actions where it fits: ``steps.ocr.outputs.text``, ``inputs.lang``,
``document.name``, ``env.NAME``, ``&&``, ``||``, ``!``, ``null``, and the functions
``success()``, ``failure()``, ``always()``, ``contains()``, ``startsWith()``, ``endsWith()``,
``format()``, ``toJSON()`` and ``fromJSON()``. Jinja's own ``and``/``or``/``not`` and filters work
too. A value that is exactly one expression keeps its type (a number stays a number); an
expression inside other text is interpolated as text.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from paperchain_sdk import ConfigError

EXPRESSION = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)  # never spans two expressions
_WORDS = {"null": "none", "true": "true", "false": "false"}


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    env.globals.update(
        contains=lambda haystack, needle: needle in haystack if haystack is not None else False,
        startsWith=lambda s, prefix: str(s).startswith(str(prefix)),
        endsWith=lambda s, suffix: str(s).endswith(str(suffix)),
        format=lambda template, *args: str(template).format(*args),
        toJSON=lambda value: json.dumps(value, sort_keys=True),
        fromJSON=lambda text: json.loads(text),
    )
    return env


def translate(expression: str) -> str:
    """Turn GitHub-style operators into Jinja's, leaving string literals alone."""
    out, i, n = [], 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch in "'\"":
            end = expression.find(ch, i + 1)
            end = n - 1 if end == -1 else end
            out.append(expression[i : end + 1])
            i = end + 1
        elif expression.startswith("&&", i):
            out.append(" and ")
            i += 2
        elif expression.startswith("||", i):
            out.append(" or ")
            i += 2
        elif ch == "!" and not expression.startswith("!=", i):
            out.append(" not ")
            i += 1
        elif ch.isalpha() or ch == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", expression[i:])
            word = match.group(0)
            out.append(_WORDS.get(word, word))
            i += len(word)
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip()


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str):
    """Compile once; raise ConfigError for a syntax error, naming the expression."""
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().compile_expression(translate(expression), undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"The expression `{expression.strip()}` is not valid: {exc.message}.") from None


def check(value: Any) -> None:
    """Compile every expression in a value (str, list, dict) so syntax errors surface at validation."""
    for expression in _expressions(value):
        compile_expression(expression)


def _expressions(value: Any):
    if isinstance(value, str):
        yield from (m.group(1) for m in EXPRESSION.finditer(value))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)


def has_expression(value: Any) -> bool:
    return next(_expressions(value), None) is not None


def evaluate(expression: str, context: dict[str, Any], *, where: str) -> Any:
    from jinja2 import Undefined, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        value = compile_expression(expression)(**context)
        if isinstance(value, Undefined):  # an unsafe or missing name comes back as Undefined
            value._fail_with_undefined_error()
        return value
    except UndefinedError as exc:
        raise ConfigError(
            f"The expression `{expression.strip()}` in {where} refers to something that does not exist: {exc.message}.",
            hint="check the step id and output name; `paperchain runs show RUN` lists each step's outputs",
        ) from None
    except SecurityError as exc:
        raise ConfigError(f"The expression `{expression.strip()}` in {where} is not allowed: {str(exc).rstrip('.')}.") from None
    except (TypeError, ValueError, ZeroDivisionError, KeyError, AttributeError) as exc:
        raise ConfigError(f"The expression `{expression.strip()}` in {where} failed: {str(exc).rstrip('.')}.") from None


def render(value: Any, context: dict[str, Any], *, where: str) -> Any:
    """Evaluate every ``${{ }}`` in a value, recursively."""
    if isinstance(value, str):
        whole = EXPRESSION.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), context, where=where)
        if "${{" not in value:
            return value
        return EXPRESSION.sub(lambda m: _as_text(evaluate(m.group(1), context, where=where)), value)
    if isinstance(value, dict):
        return {k: render(v, context, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def condition(text: str, context: dict[str, Any], *, where: str) -> bool:
    """An ``if``: with or without ``${{ }}`` around it, as in GitHub Actions."""
    stripped = text.strip()
    whole = EXPRESSION.fullmatch(stripped)
    return bool(evaluate(whole.group(1) if whole else stripped, context, where=where))


def _as_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if value is None:
        return ""
    return str(value)
