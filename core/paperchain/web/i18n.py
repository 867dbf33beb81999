"""English and Spanish: gettext catalogs (Babel), chosen per request, compiled when first used.

The Spanish catalog is kept as ``catalogs/es/LC_MESSAGES/messages.po`` and compiled in memory the
first time it is needed, so there is no build step to forget and no binary file to keep in step.
``make messages`` (maintainers) re-extracts ``messages.pot`` from the templates and code and updates
the ``.po`` files. Dates and numbers are formatted for the locale by Babel.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime, timezone
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

CATALOGS = Path(__file__).parent / "catalogs"
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"
LANG_COOKIE = "pc_lang"


@functools.cache
def translations(language: str) -> NullTranslations:
    po = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the switch's cookie, else the browser's first supported choice."""
    if cookie in LANGUAGES:
        return cookie
    choices = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if weight > 0:
            choices.append((-weight, position, tag.strip().lower().split("-")[0]))
    for _, _, primary in sorted(choices):
        if primary in LANGUAGES:
            return primary
    return DEFAULT


class Formatter:
    """Dates, numbers and sizes written for one locale (times in UTC, said so)."""

    def __init__(self, language: str):
        self.locale = Locale.parse(language)

    def when(self, value: str | None) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return dates.format_datetime(moment, "medium", tzinfo=timezone.utc, locale=self.locale) + " UTC"

    def number(self, value) -> str:
        return numbers.format_decimal(value or 0, locale=self.locale)

    def seconds(self, value: float | None) -> str:
        if value is None:
            return ""
        return numbers.format_decimal(round(value, 2), format="#,##0.##", locale=self.locale) + " s"

    def size(self, value: int | None) -> str:
        value = float(value or 0)
        for unit in ("B", "KB", "MB", "GB"):
            if value < 1024 or unit == "GB":
                return numbers.format_decimal(round(value, 1), format="#,##0.#", locale=self.locale) + " " + unit
            value /= 1024
        return ""
