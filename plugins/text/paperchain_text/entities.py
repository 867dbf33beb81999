"""``text.entities``: emails, URLs, phone numbers, dates, money amounts, IBANs and VAT numbers; in
English text also people, organisations and places (spaCy's model, ``named_entities.py``).

Patterns find candidates; each kind is then validated: phone numbers by phonenumbers (Google's
libphonenumber metadata), IBANs by python-stdnum (country format and ISO 7064 mod-97 checksum),
VAT numbers by python-stdnum's per-country rules (checksums where the country defines one), dates
by the calendar, URLs by urllib's parser. A candidate that fails validation is not reported.
People, organisations and places come from a statistical model, not patterns: English text only,
and only where the ``nlp`` extra is installed (``data["named_entities"]`` says which applied).
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from paperchain_sdk import ConfigError, Document, Findings
from paperchain_sdk.contracts import Analyzer

from .named_entities import MODEL, NAMED_KINDS, find_named_entities
from .settings import EntitiesSettings
from .textinput import clip, detected_language, require_text

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
VAT = re.compile(r"\b(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI)"
                 r"[ -]?[0-9A-Z][0-9A-Z .-]{5,13}[0-9A-Z]\b")
CURRENCY = r"(?:[$€£¥₹]|USD|EUR|GBP|JPY|CHF|MXN|ARS|COP|CLP)"
AMOUNT = r"\d{1,3}(?:[.,\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
MONEY = re.compile(rf"(?:{CURRENCY}\s?(?:{AMOUNT})|(?:{AMOUNT})\s?{CURRENCY})(?![\w])")
MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    **{m: i for i, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                   "septiembre", "octubre", "noviembre", "diciembre"], 1)},
    "setiembre": 9,
}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
TEXT_DATE_DMY = re.compile(rf"\b(\d{{1,2}})(?:\s+de)?\s+({_MONTH_NAMES})(?:\s+de|,)?\s+(\d{{4}})\b", re.IGNORECASE)
TEXT_DATE_MDY = re.compile(rf"\b({_MONTH_NAMES})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)


def _date(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def find_dates(text: str) -> list[dict]:
    found = []
    for m in ISO_DATE.finditer(text):
        if iso := _date(int(m[1]), int(m[2]), int(m[3])):
            found.append({"text": m[0], "date": iso, "start": m.start()})
    for m in NUMERIC_DATE.finditer(text):
        # Day first (most of the world); month-first when the day-first reading is impossible.
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        iso = _date(year, b, a) or _date(year, a, b)
        if iso:
            found.append({"text": m[0], "date": iso, "start": m.start(), "ambiguous": a <= 12 and b <= 12 and a != b})
    for m in TEXT_DATE_DMY.finditer(text):
        if iso := _date(int(m[3]), MONTHS[m[2].lower()], int(m[1])):
            found.append({"text": m[0], "date": iso, "start": m.start()})
    for m in TEXT_DATE_MDY.finditer(text):
        if iso := _date(int(m[3]), MONTHS[m[1].lower()], int(m[2])):
            found.append({"text": m[0], "date": iso, "start": m.start()})
    return sorted(found, key=lambda d: d["start"])


def find_phones(text: str, region: str) -> list[dict]:
    import phonenumbers

    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"region {region!r} is not a country phonenumbers knows.",
                          hint="use an ISO 3166 code such as 'US', 'GB', 'ES' or 'DE'")
    found = []
    for match in phonenumbers.PhoneNumberMatcher(text, region.upper(), leniency=phonenumbers.Leniency.VALID):
        number = match.number
        found.append({"text": match.raw_string, "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                      "region": phonenumbers.region_code_for_number(number), "start": match.start})
    return found


def find_ibans(text: str) -> list[dict]:
    from stdnum import iban

    found = []
    for m in IBAN.finditer(text):
        candidate = m[0].strip()
        if iban.is_valid(candidate):
            found.append({"text": candidate, "iban": iban.compact(candidate), "country": candidate[:2], "start": m.start()})
    return found


def find_vat_numbers(text: str, ibans: list[dict]) -> list[dict]:
    from stdnum.eu import vat as eu_vat
    from stdnum.gb import (
        vat as gb_vat,  # the UK left the EU VIES scheme; stdnum keeps its own rules
    )

    taken = {d["start"] for d in ibans}
    found = []
    for m in VAT.finditer(text):
        candidate = m[0].rstrip(" .-")
        if m.start() in taken:
            continue
        if candidate.startswith("GB"):
            if gb_vat.is_valid(candidate):
                found.append({"text": candidate, "vat": "GB" + gb_vat.compact(candidate), "country": "GB",
                              "start": m.start()})
        elif eu_vat.is_valid(candidate):
            compact = eu_vat.compact(candidate)
            found.append({"text": candidate, "vat": compact, "country": compact[:2], "start": m.start()})
    return found


def find_urls(text: str) -> list[dict]:
    found = []
    for m in URL.finditer(text):
        url = m[0]
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.hostname and "." in parts.hostname:
            found.append({"text": url, "host": parts.hostname, "start": m.start()})
    return found


def find_money(text: str) -> list[dict]:
    found = []
    for m in MONEY.finditer(text):
        currency = re.search(CURRENCY, m[0])[0]
        amount = re.sub(CURRENCY, "", m[0]).strip()
        found.append({"text": m[0].strip(), "currency": currency, "amount": _amount_value(amount), "start": m.start()})
    return found


def _amount_value(amount: str) -> float | None:
    # The last separator followed by one or two digits is the decimal mark; others group thousands.
    digits = amount.replace(" ", "")
    m = re.match(r"^(.*?)(?:[.,](\d{1,2}))?$", digits)
    whole = re.sub(r"[.,]", "", m[1])
    try:
        return float(f"{whole}.{m[2]}" if m[2] else whole)
    except ValueError:
        return None


def find_entities(text: str, region: str = "US") -> dict[str, list[dict]]:
    ibans = find_ibans(text)
    emails = [{"text": m[0], "start": m.start()} for m in EMAIL.finditer(text)]
    return {
        "emails": emails,
        "urls": [u for u in find_urls(text) if not any(e["start"] <= u["start"] < e["start"] + len(e["text"]) for e in emails)],
        "phone_numbers": find_phones(text, region),
        "dates": find_dates(text),
        "money": find_money(text),
        "ibans": ibans,
        "vat_numbers": find_vat_numbers(text, ibans),
    }


def add_named_entities(doc: Document, text: str, entities: dict[str, list[dict]], enabled: bool,
                       max_chars: int = 200_000) -> dict:
    """Add people, organisations and places to ``entities`` (empty lists where none are looked
    for) from the first ``max_chars`` characters; what was done, for ``data["named_entities"]``."""
    for kind in NAMED_KINDS:
        entities[kind] = []
    if not enabled:
        return {"status": "off", "message": "named entities are turned off (named = false)"}
    language = detected_language(doc, text)
    if language != "en":
        return {"status": "skipped", "language": language,
                "message": f"people, organisations and places are found in English text only (this is {language or 'unknown'}); "
                           "ai.extract finds them in other languages"}
    taken = [(item["start"], item["start"] + len(item["text"])) for items in entities.values() for item in items]
    examined, cut = clip(text, max_chars)
    named = find_named_entities(examined, taken)
    if named is None:
        from .named_entities import unavailable

        return {"status": "unavailable", "language": language, "message": unavailable()}
    entities.update(named)
    return {"status": "found", "language": language, "model": MODEL,
            "examined_characters": len(examined), "truncated": cut}


class EntitiesAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: EntitiesSettings | None = None) -> Findings:
        options = options or self.settings or EntitiesSettings()
        text, clipped = clip(require_text(doc, "text.entities"), options.max_chars)
        entities = find_entities(text, options.region)
        named = add_named_entities(doc, text, entities, options.named, options.named_max_chars)
        counts = {kind: len(items) for kind, items in entities.items()}
        data: dict = {kind: items[: options.limit] for kind, items in entities.items()}
        data["counts"] = counts
        data["truncated"] = clipped
        data["named_entities"] = named
        summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n) or "no entities"
        if named["status"] == "unavailable":
            summary += f" (no people, organisations or places: {named['message']})"
        return Findings(data=data, summary=summary)
