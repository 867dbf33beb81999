"""``text.readability``: readability indices with textstat, chosen by language.

textstat adapts syllable counting (Pyphen dictionaries) and some formulas to the language;
Spanish gets its own indices (Fernández Huerta, Szigriszt-Pazos, Gutiérrez de Polini).
"""

from __future__ import annotations

import threading
import warnings

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import ReadabilitySettings
from .textinput import clip, detected_language, require_text

TEXTSTAT_LANGUAGES = {"en", "de", "es", "fr", "it", "nl", "pl", "ru", "cs", "hu", "da", "pt"}
_lock = threading.Lock()
_instances: dict[str, object] = {}


def _textstat(language: str):
    # textstat's module-level object keeps the language as state; one object per language is thread-safe.
    with _lock:
        if language not in _instances:
            with warnings.catch_warnings():  # textstat 0.7.3 imports pkg_resources, which warns that it is deprecated
                warnings.simplefilter("ignore", UserWarning)
                from textstat.textstat import textstatistics

            instance = textstatistics()
            instance.set_lang(language)
            _instances[language] = instance
        return _instances[language]


def indices(text: str, language: str) -> dict:
    ts = _textstat(language)
    data = {
        "flesch_reading_ease": ts.flesch_reading_ease(text),
        "syllables": ts.syllable_count(text),
        "words": ts.lexicon_count(text),
        "sentences": ts.sentence_count(text),
        "reading_time_seconds": round(ts.reading_time(text), 2),
    }
    if language == "es":
        data.update(fernandez_huerta=ts.fernandez_huerta(text), szigriszt_pazos=ts.szigriszt_pazos(text),
                    gutierrez_polini=ts.gutierrez_polini(text))
    elif language == "en":
        data.update(flesch_kincaid_grade=ts.flesch_kincaid_grade(text), gunning_fog=ts.gunning_fog(text),
                    smog_index=ts.smog_index(text), coleman_liau_index=ts.coleman_liau_index(text),
                    text_standard=ts.text_standard(text, float_output=True))
    elif language == "de":
        data.update(wiener_sachtextformel=ts.wiener_sachtextformel(text, 1))
    return data


class ReadabilityAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: ReadabilitySettings | None = None) -> Findings:
        options = options or self.settings or ReadabilitySettings()
        text, clipped = clip(require_text(doc, "text.readability"), options.max_chars)
        if not any(c.isalpha() for c in text):
            return Findings(data={"language": None, "flesch_reading_ease": None}, summary="no words to rate")
        language = options.language if options.language != "auto" else (detected_language(doc, text) or "en")
        used = language if language in TEXTSTAT_LANGUAGES else "en"
        data = {"language": used, **indices(text, used), "truncated": clipped}
        if used != language:
            data["note"] = f"textstat has no rules for {language!r}; English rules were used"
        return Findings(data=data, summary=f"Flesch reading ease {data['flesch_reading_ease']:.1f} ({used})")
