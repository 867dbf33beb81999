"""Templates users write for plugins (a prompt, a message): Jinja2's immutable sandbox, made small.

A template may read the values it is given (``{{ document.name }}``, ``{% for t in document.tags %}``,
``{% if %}``) and pass them through a short list of filters. It calls no methods (values are read,
never called), defines no macros and includes nothing; ``*`` and ``**`` and loop nesting are
bounded, and the output is bounded while it is produced. So a template can neither reach Python
objects nor spend the server's memory or time, whoever wrote it. Needs Jinja2 (imported on first
use; the kernel always has it, a plugin that renders templates declares it).

Example::

    >>> render_template("Hello {{ name }}", {"name": "Ada"}, where="greeting")
    'Hello Ada'
"""

from __future__ import annotations

import functools
from typing import Any

from .errors import ConfigError, InputError

MAX_OUTPUT = 200_000  # characters one rendering may produce
MAX_LOOP_DEPTH = 2
_FILTERS = ("abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int", "items", "join",
            "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round",
            "select", "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate",
            "unique", "upper", "wordcount")
_HINT = "templates read values such as {{ document.name }}, with if/for and simple filters (upper, join, truncate …)"


class _Refused(ArithmeticError):
    """An operation that would build too large a value; render_template names the template."""


def _bounded_binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "*":
        for text, times in ((left, right), (right, left)):
            if isinstance(text, (str, list, tuple)) and isinstance(times, int) and len(text) * times > MAX_OUTPUT:
                raise _Refused(f"it repeats a value {times} times, past {MAX_OUTPUT:,} characters")
        return left * right
    if isinstance(right, (int, float)) and abs(right) > 64 and isinstance(left, (int, float)) and abs(left) > 1:
        raise _Refused("it raises a number to a power above 64")
    return left**right


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class TemplateSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, op, left, right):
            if op in self.intercepted_binops:
                return _bounded_binop(op, left, right)
            return super().call_binop(context, op, left, right)

        def is_safe_attribute(self, obj, attr, value):
            return not callable(value) and super().is_safe_attribute(obj, attr, value)

    env = TemplateSandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters = {name: env.filters[name] for name in _FILTERS}
    env.globals.clear()  # no range(), lipsum(), cycler(), dict(), namespace()
    return env


def _check_nodes(tree, where: str) -> None:
    from jinja2 import nodes

    refused = (nodes.Macro, nodes.CallBlock, nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends,
               nodes.FilterBlock, nodes.Block)
    for node in tree.find_all(refused):
        raise ConfigError(f"{where} uses {{% {type(node).__name__.lower()} %}}, which templates here may not.",
                          hint=_HINT)

    def depth(node, level: int) -> None:
        if isinstance(node, nodes.For):
            level += 1
            if level > MAX_LOOP_DEPTH:
                raise ConfigError(f"{where} nests loops more than {MAX_LOOP_DEPTH} deep.", hint="loop over fewer levels")
        for child in node.iter_child_nodes():
            depth(child, level)

    depth(tree, 0)


@functools.lru_cache(maxsize=256)
def compile_template(text: str, where: str = "the template"):
    """The compiled template; ConfigError saying what is wrong (syntax, a refused tag). Call it
    from a settings validator so a bad template is refused when the workflow is validated."""
    from jinja2 import TemplateSyntaxError

    env = _environment()
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"{where} is not a valid template: {(exc.message or 'unreadable').rstrip('.')} (line {exc.lineno}).",
                          hint="check the {{ }} and {% %} pairs") from None
    _check_nodes(tree, where)
    try:
        return env.from_string(tree)
    except TemplateSyntaxError as exc:  # e.g. a filter not on the list
        raise ConfigError(f"{where} is not a valid template: {(exc.message or 'unreadable').rstrip('.')}.",
                          hint=f"filters allowed: {', '.join(_FILTERS)}") from None


def render_template(text: str, context: dict[str, Any], *, where: str = "the template",
                    max_output: int = MAX_OUTPUT) -> str:
    """``text`` rendered with ``context`` (plain data: dicts, lists, text, numbers). InputError
    when rendering fails (an unknown name, a refused operation, output over ``max_output``)."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    template = compile_template(text, where)
    out: list[str] = []
    size = 0
    try:
        for piece in template.generate(context):
            size += len(piece)
            if size > max_output:
                raise InputError(f"{where} produced more than {max_output:,} characters.",
                                 hint="loop over fewer values or truncate them (| truncate(2000))")
            out.append(piece)
    except SecurityError as exc:
        raise InputError(f"{where} tried to use something templates may not: {str(exc).rstrip('.')}.",
                         hint=_HINT) from None
    except TemplateError as exc:
        raise InputError(f"{where} failed: {exc}.", hint=_HINT) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InputError(f"{where} failed: {exc}.", hint=_HINT) from None
    return "".join(out)
