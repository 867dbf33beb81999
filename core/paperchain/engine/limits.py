"""Limits on what an expression may build, so that user text cannot exhaust the server.

Two kinds: each operation that can multiply sizes (repetition, padding, powers, replace, join,
%-formatting, wordwrap) checks its own result before building it; and every value an operator,
call or filter builds is counted against one budget per evaluation, so that many small steps
(``range(100000)|map('center', 10000)``) cannot add up either. Both raise :class:`ExpressionError`.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
from contextvars import ContextVar

from jinja2 import filters as jinja_filters
from jinja2 import pass_environment, pass_eval_context
from jinja2.sandbox import MAX_RANGE

MAX_SIZE = 2_000_000  # characters or items a single operation may add to what it was given
MAX_TOTAL = 50_000_000  # characters or items one evaluation may build or serialise in all
MAX_WIDTH = 10_000  # padding and field widths
MAX_INT_BITS = 100_000  # about 30,000 decimal digits
MAX_WRAP = 1_000_000  # characters wordwrap takes: textwrap needs about a second per million
SERIALISERS = {"tojson", "string", "pprint", "xmlattr", "urlencode", "join", "format", "list"}


class ExpressionError(ValueError):
    """Something an expression asked for that is refused or impossible; the text says what."""


def too_large(what: str) -> ExpressionError:
    return ExpressionError(f"{what} would be too large (the limit is {MAX_SIZE:,} characters or items)")


def check_growth(what: str, result: int, given: int) -> None:
    """Values may be as large as their inputs (a long document's text), but an operation may add
    at most MAX_SIZE to them: repeating a field or a separator is where sizes explode."""
    if result > given + MAX_SIZE:
        raise too_large(what)


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


# -- one budget per evaluation ---------------------------------------------------------------------

_left: ContextVar[list[int] | None] = ContextVar("expression_budget", default=None)


@contextlib.contextmanager
def budget(total: int = MAX_TOTAL):
    token = _left.set([total])
    try:
        yield
    finally:
        _left.reset(token)


def spend(value) -> None:
    """Count what an operation built, or is about to serialise, against the evaluation's budget."""
    left = _left.get()
    if left is None:  # outside an evaluation (constant folding at compile time): per-operation limits only
        return
    left[0] -= weight(value, left[0])
    if left[0] < 0:
        raise ExpressionError(f"the expression builds too much (the limit is {MAX_TOTAL:,} characters or items "
                              "in all)")


def charged(name: str, function):
    """A filter that spends its result (and, for a serialiser, its input first) from the budget."""
    passes_first = getattr(function, "jinja_pass_arg", None) is not None

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if name in SERIALISERS and len(args) > passes_first:
            spend(args[passes_first])
        result = function(*args, **kwargs)
        spend(result)
        return result

    return wrapper


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
            raise ExpressionError(f"the power would be too large (the limit is {MAX_INT_BITS:,} bits)")
    return left ** right


def modulo(left, right):
    if isinstance(left, str):
        check_printf(left, right)
    return left % right


def check_str_method(text: str, name: str, args: tuple) -> None:
    if name in ("ljust", "rjust", "center", "zfill"):
        check_width(f"{name}()", args[0] if args else None)
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        check_growth("expandtabs()", text.count("\t") * size, 0)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        check_growth("translate()", len(text) * longest, len(text))
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


def limited_filters() -> dict:
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


BINOPS = {"*": multiply, "**": power, "%": modulo, "+": operator.add}  # the operators the sandbox hands here
