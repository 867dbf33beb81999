"""The Jinja2 sandbox that evaluates ``${{ … }}``, and the helpers expressions may call.

Jinja's sandbox stops attribute escapes but not two other things handled here: ``str.format``
style helpers that resolve ``{0.attr[key]}`` outside its checks (so ``format()`` and
``'…'.format()`` allow only numbered fields, as GitHub Actions does), and operations that build
values of any size (``'a' * 10**12``, ``'x'|center(10**9)``), which ``limits`` stops. Every
problem raises :class:`ExpressionError`; ``expressions.evaluate`` words it. An expression's value
is turned into plain data (text, numbers, lists, dicts) or refused.
"""

from __future__ import annotations

import collections.abc
import json
import string
import types

from jinja2 import StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import limits
from .limits import MAX_SIZE, ExpressionError, check_growth, spend, too_large, weight

MAX_DEPTH = 100  # nesting of lists and dicts in a value


# -- plain values -------------------------------------------------------------------------------

_SEQUENCES = (list, tuple, set, frozenset, range, collections.abc.Iterator, collections.abc.KeysView,
              collections.abc.ValuesView, collections.abc.ItemsView)


def plain(value, depth: int = 0):
    """The value as JSON-like data; anything else (a function, a Jinja object) is refused."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)  # a Markup becomes plain text
    if depth >= MAX_DEPTH:
        raise ExpressionError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        return {_key(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        items = []
        for item in value:
            if len(items) >= MAX_SIZE:
                raise too_large("the list")
            items.append(plain(item, depth + 1))
        return items
    raise ExpressionError(f"its value is a {_kind(value)}, not text, a number, a list or an object")


def _key(key):
    if isinstance(key, (str, int, float, bool)) or key is None:
        return str(key) if isinstance(key, str) else key
    raise ExpressionError(f"an object's key is a {_kind(key)}; keys must be text or numbers")


def _kind(value) -> str:
    if callable(value):
        return "function (call it with `()`)" if isinstance(value, types.FunctionType) else "callable object"
    return type(value).__name__


def as_text(value) -> str:
    """How a value reads inside text: lists and objects as JSON, null as nothing."""
    value = plain(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if value is None:
        return ""
    return str(value)


# -- format(): numbered fields only ---------------------------------------------------------------

def format_text(template, *args) -> str:
    """GitHub Actions' ``format()``: ``{0}``, ``{1}``, … replaced by the arguments; ``{{``/``}}`` are braces."""
    if not isinstance(template, str):
        raise ExpressionError(f"format() takes text as its first argument, not a {_kind(template)}")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ExpressionError(f"format() cannot read the template {template[:80]!r}: {exc} "
                              "(write {{ or }} for a literal brace)") from None
    spend(args)  # serialised below
    out, size, given = [], 0, len(template) + sum(weight(a) for a in args)
    for literal, field, spec, conversion in parts:
        out.append(literal)
        size += len(literal)
        if field is None:
            continue
        if not (field.isascii() and field.isdigit()) or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ExpressionError(f"format() allows only numbered fields such as {{0}} and {{1}}, "
                                  f"not {{{shown[:60]}}}")
        index = int(field)
        if index >= len(args):
            raise ExpressionError(f"format() has no argument {{{index}}}: it was given {len(args)}")
        out.append(as_text(args[index]))
        size += len(out[-1])
        check_growth("format()", size, given)
    return "".join(out)


# -- the other helpers --------------------------------------------------------------------------------

def contains(haystack, needle) -> bool:
    if haystack is None:
        return False
    return plain(needle) in plain(haystack)


def to_json(value) -> str:
    spend(value)  # serialised below
    try:
        return json.dumps(plain(value), sort_keys=True)
    except (TypeError, ValueError) as exc:  # e.g. keys of mixed types cannot be sorted
        raise ExpressionError(f"toJSON() cannot encode it: {exc}") from None


def from_json(text):
    if not isinstance(text, str):
        raise ExpressionError(f"fromJSON() takes text, not a {_kind(text)}")
    try:
        return json.loads(text)
    except RecursionError:
        raise ExpressionError("fromJSON() was given JSON nested too deeply") from None
    except ValueError as exc:
        raise ExpressionError(f"fromJSON() was given text that is not JSON: {exc}") from None


class ExpressionSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``str.format`` limited to numbered fields and sizes bounded."""

    intercepted_binops = frozenset(limits.BINOPS)

    def call_binop(self, context, operator, left, right):
        result = limits.BINOPS[operator](left, right)
        spend(result)
        return result

    def wrap_str_format(self, value):
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or not isinstance(
            getattr(value, "__self__", None), str
        ) or value.__name__ not in ("format", "format_map"):
            return None
        template = value.__self__

        def numbered_only(*args, **kwargs):
            if kwargs or value.__name__ == "format_map":
                raise ExpressionError("text.format() takes only numbered fields here; "
                                      "write format('… {0} …', value) instead")
            return format_text(str(template), *args)

        return numbered_only

    def call(self, context, obj, /, *args, **kwargs):
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
            if obj.__name__ == "join" and args:
                args = (list(args[0]), *args[1:])  # a generator is measured once it is a list
            limits.check_str_method(owner, obj.__name__, args)
        result = super().call(context, obj, *args, **kwargs)
        spend(result)
        return result


def environment() -> ExpressionSandbox:
    env = ExpressionSandbox(undefined=StrictUndefined)
    for name in ("lipsum", "cycler", "joiner", "namespace"):  # not needed in a value, and a surface
        env.globals.pop(name, None)
    env.filters.update(limits.limited_filters())
    env.filters = {name: limits.charged(name, function) for name, function in env.filters.items()}
    env.globals.update(
        contains=contains,
        startsWith=lambda s, prefix: as_text(s).startswith(as_text(prefix)),
        endsWith=lambda s, suffix: as_text(s).endswith(as_text(suffix)),
        format=format_text,
        toJSON=to_json,
        fromJSON=from_json,
    )
    return env
