"""Grounding: an extracted value stands only where the document's text supports it.

A small model constrained to a schema always answers something schema-valid, and Gemma 3 270M
(a base model) fills what it cannot find with made-up values: a total of 1000000000000000, an IBAN
grown to the schema's longest form, text copied from the prompt. So every leaf value ``ai.extract``
returns is checked against the text it was given, by what the field holds (its schema and name):

- a string: its words, compared without case, accents, punctuation or spacing, are words of the
  text; or, for OCR noise, a run of the text's words is at least FUZZY_RATIO alike (difflib) and
  has the same digits (a code or a number must match exactly);
- a number: the text states the same number, in any English or Spanish format (1,250.00, 1.250,00,
  1250; :func:`paperchain_ai.evidence.numbers`);
- a date: a date written in the text (ISO, day/month/year either way round, English or Spanish
  month names: "14 de octubre de 2026", "October 14, 2026") is the same day;
- an IBAN: its country's format and its ISO 7064 mod-97 checksum hold, and its characters, spaces removed, are in the text;
- a currency code: the text has the code, its symbol or its name (EUR, €, euros);
- booleans, enums and constants: kept (the schema already confines them).

:func:`pattern_fills` finds what a field may be filled with from the text alone, where that is
unambiguous: the one valid IBAN, the one currency its amounts are written in, the one amount
written after "total".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

import attrs

from .evidence import numbers

FUZZY_RATIO = 0.9  # difflib ratio of a string value to a run of the text's words, at the least
FUZZY_MIN_CHARS = 6  # shorter strings must match exactly: a fuzzy match of "AB12" means nothing

MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    **{m: i for i, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                   "septiembre", "octubre", "noviembre", "diciembre"], 1)},
    "setiembre": 9, "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12, "ene": 1, "abr": 4, "ago": 8, "dic": 12,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?![\d/.-]\d)")
_DAY_MONTH = re.compile(rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|º|°)?\.?(?:\s+de|\s+of)?\s+({_MONTH})\.?(?:\s+de|,)?\s+(\d{{4}})(?!\d)",
                        re.IGNORECASE)
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.IGNORECASE)

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
# The signs and names a currency is written with, besides its code (English and Spanish).
CURRENCY_SIGNS = {
    "EUR": ("€", "euro", "euros"),
    "USD": ("$", "us$", "dollar", "dollars", "dólar", "dólares"),
    "GBP": ("£", "pound", "pounds", "sterling", "libra", "libras"),
    "JPY": ("¥", "yen"),
    "CHF": ("swiss franc", "swiss francs", "franco suizo", "francos suizos"),
    "MXN": ("peso mexicano", "pesos mexicanos", "mexican peso", "mexican pesos"),
}
_AMOUNT = r"\d{1,3}(?:[.,\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SIGNS = "|".join(re.escape(s) for s in ("€", "$", "£", "¥"))
_CODES = "|".join(CURRENCY_SIGNS)
_MONEY = re.compile(rf"(?:({_SIGNS}|\b(?:{_CODES})\b)\s?(?:{_AMOUNT})|(?:{_AMOUNT})\s?({_SIGNS}|(?:{_CODES})\b))")
_TOTAL = re.compile(rf"\btotal\b[^\n\d]{{0,24}}?((?:{_SIGNS}|\b(?:{_CODES})\b)\s?(?:{_AMOUNT})(?![\d]|[.,]\d)|(?:{_AMOUNT})\s?(?:{_SIGNS}|(?:{_CODES})\b))",
                    re.IGNORECASE)


# -- the text's facts -----------------------------------------------------------------------------

def _day(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dates(text: str) -> set[dt.date]:
    """Every day ``text`` writes as a date; a numeric date that reads both ways (03/04/2026) gives both."""
    found = {_day(int(m[1]), int(m[2]), int(m[3])) for m in _ISO.finditer(text)}
    for m in _NUMERIC.finditer(text):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        year += 2000 if year < 100 else 0
        found |= {_day(year, b, a), _day(year, a, b)}
    found |= {_day(int(m[3]), MONTHS[m[2].lower()], int(m[1])) for m in _DAY_MONTH.finditer(text)}
    found |= {_day(int(m[3]), MONTHS[m[1].lower()], int(m[2])) for m in _MONTH_DAY.finditer(text)}
    return {day for day in found if day is not None}


def valid_iban(value: str) -> bool:
    """An IBAN of its country's length and format with a valid ISO 7064 mod-97 checksum (spaces
    ignored), by python-stdnum, as text.entities checks them. The checksum alone is not enough:
    Gemma's GB33BUKB20201555555555555555555555 passes it, twelve characters too long for GB."""
    from stdnum import iban

    compact = re.sub(r"\s", "", value).upper()
    return bool(_IBAN_SHAPE.match(compact)) and iban.is_valid(compact)


def ibans(text: str) -> list[str]:
    """The valid IBANs ``text`` writes (with or without spaces in groups), compact, in order, once
    each. A match may run on into capitals after it ("… 1332 BIC CAIXESBB"): its longest valid
    start is the IBAN (stdnum wants each country's exact length, so only one start can be)."""
    found = []
    for m in _IBAN_IN_TEXT.finditer(text):
        compact = re.sub(r"\s", "", m[0])
        found += [compact[:n] for n in range(min(len(compact), 34), 14, -1) if valid_iban(compact[:n])][:1]
    return list(dict.fromkeys(found))


def currencies(text: str) -> set[str]:
    """The codes of the currencies ``text``'s amounts are written in ("£903.48", "1.250,00 €", "EUR 12")."""
    found = set()
    for m in _MONEY.finditer(text):
        sign = (m[1] or m[2]).lower()
        found |= {code for code, signs in CURRENCY_SIGNS.items() if sign == code.lower() or sign in signs}
    return found


def _plain(text: str) -> str:
    """Lowercase words without accents or punctuation, one space apart, padded with spaces."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return " " + " ".join(re.findall(r"\w+", folded)) + " "


# -- what a field holds -----------------------------------------------------------------------------

def _resolve(schema: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/") and seen < 16:
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, Mapping) else {}
        schema, seen = target, seen + 1
    return schema if isinstance(schema, Mapping) else {}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "")


def _branch(schema: Mapping[str, Any], value: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part of ``schema`` that describes ``value``: through local $refs, into the anyOf/oneOf
    branch of the value's JSON type."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or ():
            option = _resolve(option, root)
            types = option.get("type")
            types = [types] if isinstance(types, str) else (types or [])
            wanted = _json_type(value)
            if wanted in types or (wanted == "number" and "integer" in types) or (not types and option):
                return {**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}, **option}
    return schema


def kind(name: str, schema: Mapping[str, Any], value: Any) -> str:
    """How a leaf is checked: "keep", "number", "date", "iban", "currency" or "string"."""
    if isinstance(value, bool) or "enum" in schema or "const" in schema:
        return "keep"
    if isinstance(value, (int, float)):
        return "number"
    pattern, lowered = str(schema.get("pattern", "")), name.lower()
    if "iban" in lowered:
        return "iban"
    if "currency" in lowered or pattern == r"^[A-Z]{3}$":
        return "currency"
    if schema.get("format") == "date" or "date" in lowered or pattern.startswith(r"^[0-9]{4}-[0-9]{2}"):
        return "date"
    return "string"


# -- the check ------------------------------------------------------------------------------------

@attrs.frozen
class Grounding:
    """What was checked against a text: ``fields`` with every unsupported leaf made null (an array's
    item dropped), and the paths of those leaves ("iban", "parties[1]", "address.city")."""

    fields: Any
    unsupported: tuple[str, ...]


class Text:
    """A document's text, with what the checks read from it worked out once."""

    def __init__(self, text: str):
        self.text = text
        self.plain = _plain(text)
        self.words = self.plain.split()
        self.compact = re.sub(r"\s", "", text).upper()
        self.numbers = numbers(text)
        self.dates = dates(text)
        self.currencies = currencies(text)

    def supports(self, what: str, value: Any) -> bool:
        if what == "keep":
            return True
        if what == "number":
            return _number_text(value) in self.numbers
        if what == "iban":
            return valid_iban(value) and re.sub(r"\s", "", value).upper() in self.compact
        if what == "currency":
            return self._currency(value)
        if what == "date":
            return bool(_value_dates(value) & self.dates)
        return self._string(value)

    def _currency(self, code: str) -> bool:
        code = code.strip().upper()
        if code in self.currencies or re.search(rf"\b{re.escape(code)}\b", self.text):
            return True
        return any(name.isalpha() and f" {name} " in self.plain for name in CURRENCY_SIGNS.get(code, ()))

    def _string(self, value: str) -> bool:
        plain = _plain(value)
        if not plain.strip():
            return not value.strip()  # an empty string claims nothing; punctuation alone is not in the text
        if plain in self.plain:
            return True
        wanted = plain.strip()
        if len(wanted) < FUZZY_MIN_CHARS:
            return False
        size, digits = len(wanted.split()), re.sub(r"\D", "", wanted)
        for width in {max(size - 1, 1), size, size + 1}:
            for start in range(max(len(self.words) - width + 1, 0)):
                run = " ".join(self.words[start:start + width])
                if re.sub(r"\D", "", run) != digits:
                    continue  # a number or code is never near enough: 2024-11-02 is not 2026-11-02
                matcher = SequenceMatcher(None, wanted, run, autojunk=False)
                if matcher.real_quick_ratio() >= FUZZY_RATIO and matcher.quick_ratio() >= FUZZY_RATIO \
                        and matcher.ratio() >= FUZZY_RATIO:
                    return True
        return False


def _number_text(value: float) -> str:
    """``value`` as :func:`evidence.numbers` writes numbers (no exponent, no trailing zeros)."""
    whole, _, decimals = f"{value:.6f}".partition(".")
    decimals = decimals.rstrip("0")
    whole = whole.lstrip("0") or "0"
    return f"{whole}.{decimals}" if decimals else whole


def _value_dates(value: str) -> set[dt.date]:
    found = dates(value)
    return found if len(found) == 1 else set()  # a value that reads as two days says neither


def ground(fields: Any, schema: Mapping[str, Any], text: str | Text) -> Grounding:
    """``fields`` (valid for ``schema``) checked leaf by leaf against ``text``."""
    source = text if isinstance(text, Text) else Text(text)
    unsupported: list[str] = []

    def visit(value: Any, part: Any, name: str, path: str) -> tuple[bool, Any]:
        """(kept, value): whether the value stands, and what is left of it."""
        part = _branch(part, value, schema)
        if isinstance(value, dict):
            properties = part.get("properties") or {}
            result = {}
            for key, item in value.items():
                kept, item = visit(item, properties.get(key, part.get("additionalProperties") or {}), key,
                                   f"{path}.{key}" if path else key)
                result[key] = item if kept else None
            return True, result
        if isinstance(value, list):
            items, result = part.get("items") or {}, []
            for index, item in enumerate(value):
                kept, item = visit(item, items, name, f"{path}[{index}]")
                if kept:
                    result.append(item)
            return True, result
        if value is None or source.supports(kind(name, part, value), value):
            return True, value
        unsupported.append(path)
        return False, None

    _, grounded = visit(fields, schema, "", "")
    return Grounding(grounded, tuple(unsupported))


def totals(text: str) -> list[float]:
    """The distinct amounts ``text`` writes with a currency right after the word "total" on the same
    line ("Total due £903.48", "Total a pagar: 1.250,00 €"; not "Subtotal"), in order."""
    found = []
    for m in _TOTAL.finditer(text):
        amount = numbers(re.sub(rf"{_SIGNS}|[A-Z]{{3}}", "", m[1]).strip())
        if len(amount) == 1:
            found.append(float(next(iter(amount))))
    return list(dict.fromkeys(found))


def pattern_fills(schema: Mapping[str, Any], text: str | Text) -> dict[str, Any]:
    """Top-level fields the text alone fills without doubt: the field of IBAN kind when the text has
    exactly one valid IBAN, the field of currency kind when all its amounts are in one currency, the
    number field named for a total when the text writes one currency amount after "total"; only
    where the schema has one field of that kind (two IBAN fields could be either)."""
    source = text if isinstance(text, Text) else Text(text)
    by_kind: dict[str, list[str]] = {}
    for name, part in (schema.get("properties") or {}).items():
        if _branch(part, "", schema).get("type") == "string":
            by_kind.setdefault(kind(name, _branch(part, "", schema), ""), []).append(name)
        elif _branch(part, 0.0, schema).get("type") == "number" and "total" in str(name).lower():
            by_kind.setdefault("total", []).append(name)
    found: dict[str, list[Any]] = {"iban": ibans(source.text), "currency": sorted(source.currencies),
                                   "total": totals(source.text)}
    return {names[0]: found[what][0] for what, names in by_kind.items()
            if what in found and len(names) == 1 and len(found[what]) == 1}
