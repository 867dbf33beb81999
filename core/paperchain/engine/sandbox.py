"""The Jinja2 sandbox that evaluates ``${{ … }}``, with its helpers, and limits on what it may build.

Jinja's sandbox stops attribute escapes but not two other things this module adds:
``str.format`` style helpers that resolve ``{0.attr[key]}`` outside its checks (so ``format()`` and
``'…'.format()`` allow only numbered fields, as GitHub Actions does), and operations that build
values of any size (``'a' * 10**12``, ``'x'|center(10**9)``, ``10 ** 10 ** 10``), which here stop
at fixed limits. Every problem raises :class:`ExpressionError`; ``expressions.evaluate`` words it.
An expression's value is turned into plain data (text, numbers, lists, dicts) or refused.
"""

from __future__ import annotations

import collections.abc
import json
import re
import string
import types

from jinja2 import StrictUndefined, Undefined, pass_environment, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

MAX_SIZE = 2_000_000  # characters or items a single operation may add to what it was given
MAX_WIDTH = 10_000  # padding and field widths
MAX_INT_BITS = 100_000  # about 30,000 decimal digits
MAX_DEPTH = 100  # nesting of lists and dicts in a value
MAX_WRAP = 1_000_000  # characters wordwrap takes: textwrap needs about a second per million


class ExpressionError(ValueError):
    """Something an expression asked for that is refused or impossible; the text says what."""


def too_large(what: str) -> ExpressionError:
    return ExpressionError(f"{what} would be too large (the limit is {MAX_SIZE:,} characters or items)")


def check_growth(what: str, result: int, given: int) -> None:
    """Values may be as large as their inputs (a long document's text), but an operation may add
    at most MAX_SIZE to them: repeating a field or a separator is where sizes explode."""
    if result > given + MAX_SIZE:
        raise too_large(what)


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


def weight(value, budget: int = MAX_SIZE) -> int:
    """Characters and items in a value, counting shared parts each time; stops early past ``budget``."""
    total, stack = 0, [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple)):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.values())
        else:
            total += 1
    return total


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
    try:
        return json.dumps(plain(value), sort_keys=True)
    except ExpressionError as exc:
        raise ExpressionError(f"toJSON() cannot encode it: {exc}") from None
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


# -- limits on operators, methods and filters ----------------------------------------------------------

_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_printf(template: str, args=()) -> None:
    fields = 0
    for match in _PRINTF_FIELD.finditer(template):
        fields += 1
        for number in match.groups():
            if number == "*" or (number and int(number) > MAX_WIDTH):
                raise ExpressionError(f"the %-format field {match.group(0)!r} asks for a width or precision "
                                      f"that is too large (the limit is {MAX_WIDTH:,}; `*` is not allowed)")
    given = weight(args)
    if isinstance(args, tuple):  # each field takes its own argument
        most = given + fields * MAX_WIDTH
    else:  # each field may take the whole argument, or the largest value of a mapping
        largest = max(map(weight, args.values()), default=0) if isinstance(args, dict) else given
        most = fields * (largest + MAX_WIDTH)
    check_growth("%-formatting", len(template) + most, len(template) + given)


def check_width(what: str, width) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise ExpressionError(f"{what} with width {width:,} would be too large (the limit is {MAX_WIDTH:,})")


def multiply(left, right):
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(times, int) and isinstance(sequence, (str, list, tuple)) and times > 1:
        if weight(sequence, MAX_SIZE // times) * times > MAX_SIZE:
            raise too_large("repeating it")
        if not isinstance(sequence, str) and len(sequence) * times > MAX_RANGE:  # as many items as range() gives
            raise ExpressionError(f"repeating the list would give more than {MAX_RANGE:,} items")
    return left * right


def power(left, right):
    if isinstance(left, int) and isinstance(right, int) and right > 1 and abs(left) > 1:
        if abs(left).bit_length() * right > MAX_INT_BITS:
            raise ExpressionError(f"{left} ** {right} would be too large (the limit is {MAX_INT_BITS:,} bits)")
    return left ** right


def modulo(left, right):
    if isinstance(left, str):
        check_printf(left, right)
    return left % right


def check_str_method(text: str, name: str, args: tuple) -> None:
    if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
        check_width(f"{name}()", args[0] if args else None)
    elif name == "replace" and len(args) >= 2:
        check_replace(text, *args[:2])
    elif name == "join" and args:
        check_join(text, args[0])


def check_replace(text, old, new) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        check_growth("replace()", len(text) + found * max(len(new) - len(old), 0), len(text))


def check_join(separator, items) -> None:
    if isinstance(items, (list, tuple)) and isinstance(separator, str):
        check_growth("join()", len(separator) * len(items), 0)


def _limited_filters() -> dict:
    def center(value, width=80):
        check_width("center", width)
        return jinja_filters.do_center(value, width)

    def indent(value, width=4, first=False, blank=False):
        pad = len(width) if isinstance(width, str) else width
        if isinstance(pad, int):
            check_growth("indent", pad * (str(value).count("\n") + 1), 0)
        return jinja_filters.do_indent(value, width, first, blank)

    @pass_eval_context
    def replace(eval_ctx, value, old, new, count=None):
        check_replace(str(value), str(old), str(new))
        return jinja_filters.do_replace(eval_ctx, value, old, new, count)

    @pass_eval_context
    def join(eval_ctx, value, d="", attribute=None):
        items = list(value)
        check_join(str(d), items)
        return jinja_filters.sync_do_join(eval_ctx, items, d, attribute)

    def format_filter(value, *args, **kwargs):
        check_printf(str(value), kwargs or tuple(args))
        return jinja_filters.do_format(value, *args, **kwargs)

    def batch(value, linecount, fill_with=None):
        check_width("batch", linecount)
        return jinja_filters.do_batch(value, linecount, fill_with)

    def slice_filter(value, slices, fill_with=None):
        check_width("slice", slices)
        return jinja_filters.sync_do_slice(value, slices, fill_with)

    @pass_environment
    def wordwrap(environment, value, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True):
        if len(str(value)) > MAX_WRAP:
            raise ExpressionError(f"wordwrap takes at most {MAX_WRAP:,} characters (evaluating it would hold up "
                                  "every other run)")
        return jinja_filters.do_wordwrap(environment, value, width, break_long_words, wrapstring, break_on_hyphens)

    @pass_eval_context
    def tojson(eval_ctx, value, indent=None):
        check_width("tojson", indent)
        return jinja_filters.do_tojson(eval_ctx, value, indent)

    return {"center": center, "indent": indent, "replace": replace, "join": join, "format": format_filter,
            "batch": batch, "slice": slice_filter, "tojson": tojson, "wordwrap": wordwrap}


class ExpressionSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``str.format`` limited to numbered fields and sizes bounded."""

    intercepted_binops = frozenset({"*", "**", "%"})
    _BINOPS = {"*": multiply, "**": power, "%": modulo}

    def call_binop(self, context, operator, left, right):
        return self._BINOPS[operator](left, right)

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
            check_str_method(owner, obj.__name__, args)
        return super().call(context, obj, *args, **kwargs)


def environment() -> ExpressionSandbox:
    env = ExpressionSandbox(undefined=StrictUndefined)
    for name in ("lipsum", "cycler", "joiner", "namespace"):  # not needed in a value, and a surface
        env.globals.pop(name, None)
    env.filters.update(_limited_filters())
    env.globals.update(
        contains=contains,
        startsWith=lambda s, prefix: as_text(s).startswith(as_text(prefix)),
        endsWith=lambda s, suffix: as_text(s).endswith(as_text(suffix)),
        format=format_text,
        toJSON=to_json,
        fromJSON=from_json,
    )
    return env
