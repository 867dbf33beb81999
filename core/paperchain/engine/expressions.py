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
import re
from typing import Any

from paperchain_sdk import ConfigError

EXPRESSION = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)  # never spans two expressions
_WORDS = {"null": "none", "true": "true", "false": "false"}


@functools.lru_cache(maxsize=1)
def _environment():
    from . import sandbox  # imports jinja2: only once an expression is compiled

    return sandbox.environment()


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
        raise ConfigError(f"The expression `{expression.strip()[:200]}` is not valid: {exc.message}.") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"The expression `{expression.strip()[:200]}` is nested too deeply to read.") from None


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
    """The expression's value as plain data. Whatever goes wrong (a missing name, a refused
    operation, an error of any type inside Jinja or a helper) raises ConfigError, never anything else."""
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    from . import sandbox

    shown = expression.strip()
    if len(shown) > 200:
        shown = shown[:200] + "…"
    try:
        with sandbox.limits.budget():
            value = compile_expression(expression)(**context)
            sandbox.limits.spend(value)  # before plain() walks and copies it
            return sandbox.plain(value)
    except ConfigError:
        raise
    except UndefinedError as exc:
        raise ConfigError(
            f"The expression `{shown}` in {where} refers to something that does not exist: {exc.message}.",
            hint="check the step id and output name; `paperchain runs show RUN` lists each step's outputs",
        ) from None
    except SecurityError as exc:
        raise ConfigError(f"The expression `{shown}` in {where} is not allowed: {_reason(exc)}.") from None
    except MemoryError:
        raise ConfigError(f"The expression `{shown}` in {where} needs more memory than there is.") from None
    except RecursionError:
        raise ConfigError(f"The expression `{shown}` in {where} is nested too deeply.") from None
    except Exception as exc:  # noqa: BLE001 - user text: any failure is the step's, never the engine's
        reason = _reason(exc)
        if not isinstance(exc, sandbox.ExpressionError):
            reason = f"{type(exc).__name__}: {reason}"
        raise ConfigError(f"The expression `{shown}` in {where} failed: {reason}.") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).rstrip(".") or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def render(value: Any, context: dict[str, Any], *, where: str) -> Any:
    """Evaluate every ``${{ }}`` in a value, recursively."""
    if isinstance(value, str):
        whole = EXPRESSION.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), context, where=where)
        if "${{" not in value:
            return value
        from .sandbox import as_text

        return EXPRESSION.sub(lambda m: as_text(evaluate(m.group(1), context, where=where)), value)
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
