"""JSON Schemas the AI steps constrain answers to, and the checks of answers against them.

A provider constrains decoding to the schema where its backend can (llama.cpp's grammar, OpenAI's
``response_format``); whatever it returns is parsed and validated here before any step outputs it,
so what a later step (or an ``if``) sees always fits the schema.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_SCHEMA = 20_000  # characters of a step's schema as JSON
_CURRENCY = r"^[A-Z]{3}$"
_IBAN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"
GROUNDING_KEY = "_grounding"  # ai.extract's outputs: what the grounding check found, beside the fields


def _or_null(schema: dict) -> dict:
    # anyOf, not a type list: llama.cpp's grammar keeps a pattern and a length only this way.
    return {"anyOf": [schema, {"type": "null"}]}


# Every field may be null: a document that does not give one (or a value the text does not support,
# see paperchain_ai.grounding) is null rather than made up. The descriptions are for a reader of the
# schema and for backends that show it to the model; ai.extract's prompt names the fields only
# (Gemma 3 270M copied descriptions such as "the invoice number" as the values).
INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {**_or_null({"type": "string", "maxLength": 80}), "description": "who issued the invoice"},
        "number": {**_or_null({"type": "string", "maxLength": 32}), "description": "the invoice number"},
        "date": {**_or_null({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
                 "description": "the invoice date, YYYY-MM-DD"},
        "total": {**_or_null({"type": "number"}), "description": "the total due, a number without currency sign"},
        "currency": {**_or_null({"type": "string", "pattern": _CURRENCY}), "description": "ISO 4217 code, e.g. EUR, GBP"},
        "iban": {**_or_null({"type": "string", "pattern": _IBAN, "maxLength": 34}),
                 "description": "the IBAN to pay to, no spaces"},
    },
    "required": ["vendor", "number", "date", "total", "currency", "iban"],
    "additionalProperties": False,
}
BUILTIN = {"invoice": INVOICE}


class AnswerError(ValueError):
    """A model's answer that is not valid JSON for its schema; the message says what is wrong."""


def _refs(value: Any):
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("$ref", "$dynamicRef") and isinstance(item, str):
                yield item
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def check_step_schema(value: Any) -> dict:
    """The JSON Schema a step names (a built-in's name, or a schema object), checked: a valid
    Draft 2020-12 schema of an object, local ``$ref`` only (nothing is fetched). ValueError otherwise."""
    if isinstance(value, str):
        if value not in BUILTIN:
            raise ValueError(f"schema {value!r} is not a built-in schema; use one of {', '.join(BUILTIN)} "
                             "or write a JSON Schema object")
        return BUILTIN[value]
    if not isinstance(value, Mapping):
        raise ValueError(f"schema must be a JSON Schema object or a built-in name, got {type(value).__name__}")
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"schema is not plain JSON: {exc}") from None
    if size > MAX_SCHEMA:
        raise ValueError(f"schema is {size:,} characters of JSON; at most {MAX_SCHEMA:,} are allowed")
    remote = [ref for ref in _refs(value) if not ref.startswith("#")]
    if remote:
        raise ValueError(f"schema refers to {remote[0]!r}: only local references (#/$defs/...) are allowed, "
                         "nothing is fetched")
    if value.get("type") != "object":
        raise ValueError('schema must describe an object (type = "object") whose properties are the fields')
    if GROUNDING_KEY in (value.get("properties") or {}):
        raise ValueError(f"schema has a property {GROUNDING_KEY!r}: ai.extract puts its grounding report under that "
                         "key of its outputs; rename the property")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the top level"
        raise ValueError(f"schema is not a valid JSON Schema at {where}: {exc.message}") from None
    return dict(value)


def classify_schema(labels: list[str], *, bounded: bool = True) -> dict:
    """What ai.classify asks for; ``bounded=False`` is what it accepts: llama.cpp's grammars do not
    enforce minimum and maximum, so a confidence outside 0..1 is clamped rather than refused."""
    confidence = {"type": "number", "minimum": 0, "maximum": 1} if bounded else {"type": "number"}
    return {"type": "object", "properties": {"label": {"enum": list(labels)}, "confidence": confidence},
            "required": ["label", "confidence"], "additionalProperties": False}


def cut_field(text: str, field: str) -> list[str]:
    """The complete sentences of a one-string-field JSON answer (``{"<field>": "…``) that was cut at
    max_tokens: a small model that runs on or repeats itself is cut there, and what it said before
    is still usable. A sentence cut in the middle is left out; [] when none is complete."""
    from .evidence import split_sentences  # (evidence.py imports NumPy: only when an answer was cut)

    match = re.match(r'^\s*\{\s*"' + re.escape(field) + r'"\s*:\s*"((?:[^"\\]|\\.)*)', text)
    try:
        partial = json.loads(f'"{match.group(1).rstrip(chr(92))}"') if match else ""
    except ValueError:
        partial = ""
    sentences = split_sentences(partial)
    if sentences and not re.search(r"[.!?…][\"'”’»)\]]*$", sentences[-1]):
        sentences = sentences[:-1]  # cut in the middle
    return list(dict.fromkeys(sentences))


def summary_schema() -> dict:
    # No maxLength: max_tokens bounds what the model writes, and ai.summarize cuts the summary to
    # max_words at a sentence, rather than refusing an answer a few words long.
    return {"type": "object", "properties": {"summary": {"type": "string", "minLength": 1}},
            "required": ["summary"], "additionalProperties": False}


def answer_schema() -> dict:
    # The answer only: which passages it rests on is found afterwards by checking it against them
    # (paperchain_ai.evidence), never taken from the model. No maxLength: max_tokens bounds it, and
    # llama.cpp spells a long maxLength out as a rule repeated that many times (a 2,000-character
    # bound crashed its sampler).
    return {"type": "object", "properties": {"answer": {"type": "string", "minLength": 1}},
            "required": ["answer"], "additionalProperties": False}


def _no_constant(name: str):
    raise AnswerError(f"the answer has {name}, which is not a JSON number")


def parse_answer(text: str, schema: Mapping[str, Any], check: Callable[[Any], None] | None = None) -> Any:
    """The answer ``text`` parsed and validated against ``schema`` (and by ``check``, which raises
    AnswerError); AnswerError naming the first problem otherwise."""
    from jsonschema import Draft202012Validator

    try:
        value = json.loads(text.strip(), parse_constant=_no_constant)
    except AnswerError:
        raise
    except ValueError as exc:
        raise AnswerError(f"the answer is not JSON ({exc.msg} at character {exc.pos}): {text[:120]!r}") from None
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "the top level"
        raise AnswerError(f"the answer does not fit the schema at {where}: {errors[0].message[:200]}")
    if check is not None:
        check(value)
    return value


def finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AnswerError(f"{field} must be a finite number, got {value!r}")
    return float(value)

