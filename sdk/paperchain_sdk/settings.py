"""Building a component's settings object from user-written values, with readable errors."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import cattrs

from .errors import ConfigError

_converter = cattrs.Converter(forbid_extra_keys=True)


class _WrongType(TypeError):
    pass


def _strict(kind: type, accepted: tuple[type, ...]):
    # cattrs would turn "300" into 300 and 1 into "1"; a user who wrote the wrong type should hear it.
    def structure(value, _type):
        if isinstance(value, bool) and kind is not bool or not isinstance(value, accepted):
            raise _WrongType(f"expected {kind.__name__}, got {value!r} ({type(value).__name__})")
        return kind(value)

    return structure


for _kind, _accepted in ((int, (int,)), (float, (int, float)), (str, (str,)), (bool, (bool,))):
    _converter.register_structure_hook(_kind, _strict(_kind, _accepted))


def _is_sequence(tp) -> bool:
    return typing.get_origin(tp) in (list, tuple, set, frozenset)


def _structure_sequence(value, tp):
    # cattrs would turn "abc" into ['a', 'b', 'c']; a list was asked for.
    if not isinstance(value, (list, tuple)):
        raise _WrongType(f"expected a list, got {value!r} ({type(value).__name__})")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    item = args[0] if args else typing.Any
    items = [v if item is typing.Any else _converter.structure(v, item) for v in value]
    return origin(items)


_converter.register_structure_hook_func(_is_sequence, _structure_sequence)


def _format(exc: BaseException, type_) -> str:
    if isinstance(exc, _WrongType):
        return str(exc)
    if type_ is None and isinstance(exc, ValueError):  # an attrs validator: its first argument is the message
        return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return cattrs.v.format_exception(exc, type_)


def settings_fields(cls: type | None) -> dict[str, str]:
    """``{field name: type as text}`` of a settings class, for listings and error messages."""
    if cls is None:
        return {}
    return {f.name: _type_name(f.type) for f in attrs.fields(cls)}


def structure_settings(cls: type | None, values: Mapping[str, Any] | None, *, where: str) -> Any:
    """Build ``cls`` from ``values``; on failure raise ConfigError naming ``where`` and each bad key.

    ``where`` reads like "step 'export' of workflow invoices.toml, table [with]". Keys may be
    written with dashes or underscores. With ``cls`` None the values are returned as a dict.
    """
    values = {str(k).replace("-", "_"): v for k, v in (values or {}).items()}
    if cls is None:
        return values
    try:
        return _converter.structure(values, cls)
    except cattrs.ClassValidationError as exc:
        problems = _describe(exc, cls)
    except (TypeError, ValueError) as exc:  # validators raise these directly
        problems = [str(exc)]
    expected = ", ".join(f"{name}: {typ}" for name, typ in settings_fields(cls).items()) or "no settings"
    raise ConfigError(
        f"Invalid settings in {where}: " + "; ".join(problems) + ".",
        hint=f"expected {expected}",
    )


def _describe(exc: cattrs.ClassValidationError, cls: type) -> list[str]:
    problems = []
    for message in cattrs.transform_error(exc, path="", format_exception=_format):
        # cattrs says "invalid value for type, expected int @ $.dpi"; say "dpi: expected int".
        text, _, path = message.rpartition(" @ ")
        key = path.lstrip("$").lstrip(".")
        text = text.replace("invalid value for type, ", "")
        if text.startswith("extra fields found"):
            names = text.split("(")[-1].rstrip(")") if "(" in text else text
            problems.append(f"unknown key(s) {names}")
            continue
        problems.append(f"{key}: {text}" if key else text)
    return problems or [str(exc)]


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


# -- validators for settings classes (attrs ``validator=``): the common ones, written once --------
# Each raises ValueError naming the field; structure_settings turns that into a ConfigError (or,
# for a query class, paperchain_sdk.web.parse_query into a 400).


def between(low: float, high: float) -> Callable[[Any, Any, Any], None]:
    """The value lies in ``[low, high]``."""
    def check(instance, attribute, value) -> None:
        if not low <= value <= high:
            raise ValueError(f"{attribute.name} must be between {low:g} and {high:g}, got {value!r}")

    return check


def one_of(allowed: Iterable[str]) -> Callable[[Any, Any, Any], None]:
    """The value is one of ``allowed``."""
    allowed = tuple(allowed)

    def check(instance, attribute, value) -> None:
        if value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(map(str, allowed))}, got {value!r}")

    return check


def positive(instance, attribute, value) -> None:
    """The value is above 0 (a count, a size, a number of seconds)."""
    if value <= 0:
        raise ValueError(f"{attribute.name} must be above 0, got {value!r}")


def at_least(low: float) -> Callable[[Any, Any, Any], None]:
    """The value is ``low`` or more."""
    def check(instance, attribute, value) -> None:
        if value < low:
            raise ValueError(f"{attribute.name} must be at least {low:g}, got {value!r}")

    return check


def duration(instance, attribute, value) -> None:
    """A positive duration in the SDK's one grammar (``30``, ``"30s"``, ``"5m"``, ``"7d"``;
    ``paperchain_sdk.durations``); read its seconds with ``durations.parse_duration``."""
    from .durations import HINT, parse_duration

    try:
        parse_duration(value, where=attribute.name)
    except ConfigError as exc:
        raise ValueError(f"{exc.message} ({HINT})") from None
