"""``text.language``: the document's language with langdetect (a port of Google's language-detection).

langdetect is randomized; a fixed seed makes the answer repeatable. Each call builds its own
detector, so threads don't share state.
"""

from __future__ import annotations

import threading

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import LanguageSettings
from .textinput import clip, require_text

_lock = threading.Lock()
_factory = None


def _detector(text: str):
    global _factory
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    with _lock:  # the profiles load once per process
        if _factory is None:
            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            factory.seed = 0
            _factory = factory
    detector = _factory.create()
    detector.append(text)
    return detector


def detect(text: str, candidates: int = 3) -> dict:
    """``{"language": "en" | None, "probability": float, "candidates": [{"language", "probability"}]}``."""
    from langdetect.lang_detect_exception import LangDetectException

    try:
        found = _detector(text).get_probabilities()
    except LangDetectException:  # no letters at all (digits, symbols, empty)
        found = []
    ranked = [{"language": item.lang, "probability": round(item.prob, 4)} for item in found[:candidates]]
    best = ranked[0] if ranked else {"language": None, "probability": 0.0}
    return {"language": best["language"], "probability": best["probability"], "candidates": ranked}


class LanguageAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: LanguageSettings | None = None) -> Findings:
        options = options or self.settings or LanguageSettings()
        text, clipped = clip(require_text(doc, "text.language"), options.max_chars)
        result = detect(text, options.candidates)
        result["sampled_characters"] = len(text) if clipped else None
        summary = (f"{result['language']} ({result['probability']:.0%})" if result["language"]
                   else "no language: the text has no letters")
        return Findings(data=result, summary=summary)
