"""English and Spanish: gettext catalogs (Babel), chosen per request, compiled when first used.

The Spanish catalog is kept as ``catalogs/es/LC_MESSAGES/messages.po`` and compiled in memory the
first time it is needed, so there is no build step to forget and no binary file to keep in step.
``make messages`` (maintainers) re-extracts ``messages.pot`` from the templates and code and updates
the ``.po`` files. Dates and numbers are formatted for the locale by Babel.
"""

from __future__ import annotations

import functools
import io
import logging
from datetime import UTC, date, datetime, time
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

CATALOGS = Path(__file__).parent / "catalogs"
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"
LANG_COOKIE = "pc_lang"
log = logging.getLogger("paperchain.web")


_PLUGIN_CATALOGS: list[Path] = []  # plugins' catalog folders (``paperchain_ui``), merged under the core's


def add_catalogs(folder: Path) -> None:
    """Merge a plugin's ``<language>/LC_MESSAGES/messages.po`` files into the translations."""
    if folder not in _PLUGIN_CATALOGS:
        _PLUGIN_CATALOGS.append(folder)
        translations.cache_clear()


@functools.cache
def translations(language: str) -> NullTranslations:
    if language == DEFAULT:
        return NullTranslations()
    merged = None
    for folder in (*_PLUGIN_CATALOGS, CATALOGS):  # the core's last: its entries win on a clash
        po = folder / language / "LC_MESSAGES" / "messages.po"
        if not po.is_file():
            continue
        try:
            compiled = _compile(po, language)
        except Exception:  # noqa: BLE001 - a plugin's broken catalog leaves its strings in English
            log.exception("the catalog %s could not be read", po)
            continue
        if merged is None:
            merged = compiled
        else:
            merged.merge(compiled)
    return merged or NullTranslations()


def _compile(po: Path, language: str) -> Translations:
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


_SECOND = "\x00"  # stands for the seconds in a time formatted once per minute


@functools.lru_cache(maxsize=4096)
def _day(language: str, day: date) -> str:
    return dates.format_date(day, "medium", locale=language)


@functools.lru_cache(maxsize=4096)
def _minute(language: str, hour: int, minute: int) -> str:
    """The locale's medium time for a minute, seconds left as ``_SECOND`` (its pattern, compiled once)."""
    return _time_pattern(language).apply(time(hour, minute), Locale.parse(language))


@functools.cache
def _time_pattern(language: str) -> dates.DateTimePattern:
    parsed = dates.get_time_format("medium", locale=language)
    return dates.DateTimePattern(parsed.pattern, parsed.format.replace("%(ss)s", _SECOND))


@functools.cache
def _datetime_format(language: str) -> str:
    return dates.get_datetime_format("medium", locale=language).replace("'", "")


@functools.cache
def _decimal_symbol(language: str) -> str:
    return numbers.get_decimal_symbol(language)


def _decimal(language: str, value: float, places: int) -> str:
    """``value`` with up to ``places`` decimals, as Babel's ``#,##0.##`` writes it for the locale.

    Below 1,000 there is no grouping, so only the decimal symbol differs by locale and Python's
    own formatting does it in a fraction of Babel's time; larger values go through Babel.
    """
    if not 0 <= value < 1000:
        return numbers.format_decimal(value, format="#,##0." + "#" * places, locale=language)
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text.replace(".", _decimal_symbol(language))


class Formatter:
    """Dates, numbers and sizes written for one locale (times in UTC, said so).

    A list page writes 50 dates and durations; Babel takes ~30 µs for each, so what repeats is
    kept: a day's date and a minute's time (the seconds put in after); small numbers skip Babel.
    """

    def __init__(self, language: str):
        self.language = language
        self.locale = Locale.parse(language)

    def when(self, value: str | None) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        clock = _minute(self.language, moment.hour, moment.minute).replace(_SECOND, f"{moment.second:02d}")
        return (_datetime_format(self.language).replace("{0}", clock)
                .replace("{1}", _day(self.language, moment.date())) + " UTC")

    def number(self, value) -> str:
        return numbers.format_decimal(value or 0, locale=self.locale)

    def seconds(self, value: float | None) -> str:
        if value is None:
            return ""
        return _decimal(self.language, round(value, 2), 2) + " s"

    def size(self, value: int | None) -> str:
        value = float(value or 0)
        for unit in ("B", "KB", "MB", "GB"):
            if value < 1024 or unit == "GB":
                return _decimal(self.language, round(value, 1), 1) + " " + unit
            value /= 1024
        return ""
