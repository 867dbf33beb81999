"""``text.sentiment``: English with VADER (a lexicon and rules); Spanish with a naive-Bayes model.

VADER (vaderSentiment) scores each sentence; the document's compound score is their mean.
For Spanish no maintained lexicon package installs offline (see the README); the
``sentiment-analysis-spanish`` package ships a multinomial naive-Bayes model over word n-grams,
trained on Spanish reviews and tweets, which gives P(positive) per sentence; we report
``2 * P - 1`` so both languages share the [-1, 1] scale and VADER's +-0.05 neutral band.
"""

from __future__ import annotations

import threading
import warnings

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import SentimentSettings
from .textinput import clip, detected_language, require_text, sentences

NEUTRAL_BAND = 0.05
SUPPORTED = ("en", "es")
_lock = threading.Lock()
_models: dict[str, object] = {}


def _model(language: str):
    with _lock:
        if language not in _models:
            if language == "en":
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _models[language] = SentimentIntensityAnalyzer()
            else:
                with warnings.catch_warnings():  # a scikit-learn version note about the bundled pickle
                    warnings.simplefilter("ignore")
                    from sentiment_analysis_spanish.sentiment_analysis import (
                        SentimentAnalysisSpanish,
                    )

                    _models[language] = SentimentAnalysisSpanish()
        return _models[language]


def sentence_score(sentence: str, language: str) -> float:
    model = _model(language)
    if language == "en":
        return float(model.polarity_scores(sentence)["compound"])
    return 2.0 * float(model.sentiment(sentence)) - 1.0


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
        "model": "vader" if language == "en" else "sentiment-analysis-spanish (naive Bayes)",
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
