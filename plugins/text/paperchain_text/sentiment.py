"""``text.sentiment``: English with VADER (a lexicon and rules); Spanish with our lexicon under VADER's rules.

VADER (vaderSentiment) scores each English sentence; ``sentiment_es`` scores each Spanish one with
the same rules over a Spanish opinion lexicon (see its docstring for why the naive-Bayes model
used before was dropped). The document's score is the mean of its sentences' compound scores,
in [-1, 1], with VADER's +-0.05 neutral band.
"""

from __future__ import annotations

import re
import threading

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import SentimentSettings
from .textinput import clip, detected_language, require_text, sentences

NEUTRAL_BAND = 0.05
SUPPORTED = ("en", "es")
_lock = threading.Lock()
_models: dict[str, object] = {}
# Letter formulas VADER would read as praise or blame ("dear" +1.6, "please" +1.3, "sincerely" +2.1,
# "outstanding" +3.0 in "outstanding balance", "not hesitate" +0.8): removed before scoring, as
# sentiment_es removes the Spanish ones.
ENGLISH_FORMULAS = re.compile(
    r"^\s*dear\b|\b(?:kind|best|warm) regards\b|\byours (?:sincerely|faithfully|truly)\b|\bsincerely\b"
    r"|\bplease\b|\bthank you (?:for your attention|in advance)\b|\bdo(?: not|n't) hesitate\b"
    r"|\b(?:we )?(?:apologi[sz]e|are sorry) for any inconvenience\b"
    r"|\boutstanding(?= (?:balance|amount|fee|invoice|payment|debt)s?\b)",
    re.IGNORECASE | re.MULTILINE,
)


def _vader():
    with _lock:
        if "en" not in _models:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _models["en"] = SentimentIntensityAnalyzer()
        return _models["en"]


def sentence_score(sentence: str, language: str) -> float:
    if language == "en":
        return float(_vader().polarity_scores(ENGLISH_FORMULAS.sub(" ", sentence))["compound"])
    from .sentiment_es import sentence_score as spanish_score

    return spanish_score(sentence)


def label(score: float) -> str:
    return "positive" if score >= NEUTRAL_BAND else "negative" if score <= -NEUTRAL_BAND else "neutral"


def score_text(text: str, language: str) -> dict:
    parts = sentences(text)
    scores = [sentence_score(s, language) for s in parts]
    overall = sum(scores) / len(scores) if scores else 0.0
    return {
        "language": language,
        "score": round(overall, 4),
        "label": label(overall),
        "sentences": len(parts),
        "positive": sum(1 for s in scores if s >= NEUTRAL_BAND),
        "negative": sum(1 for s in scores if s <= -NEUTRAL_BAND),
        "model": "vader" if language == "en" else "lexicon-es (VADER rules)",
    }


class SentimentAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: SentimentSettings | None = None) -> Findings:
        options = options or self.settings or SentimentSettings()
        text, clipped = clip(require_text(doc, "text.sentiment"), options.max_chars)
        if not text.strip():
            return Findings(data={"language": None, "score": 0.0, "label": "neutral", "sentences": 0},
                            summary="no text")
        language = options.language if options.language != "auto" else detected_language(doc, text)
        if language not in SUPPORTED:
            return Findings(
                data={"language": language, "score": None, "label": None, "supported": list(SUPPORTED)},
                summary=f"sentiment is not available for language {language!r} (only English and Spanish)",
            )
        data = score_text(text, language)
        data["truncated"] = clipped
        return Findings(data=data, summary=f"{data['label']} ({data['score']:+.2f}, {language})")
