"""``text.keywords``: key phrases with YAKE (unsupervised, per document, language-aware stop words)."""

from __future__ import annotations

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import KeywordsSettings
from .textinput import clip, detected_language, require_text

YAKE_LANGUAGES = {"ar", "bg", "br", "cz", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "hi", "hr", "hu",
                  "hy", "id", "it", "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr",
                  "uk", "zh"}


def extract(text: str, language: str, top: int = 10, max_ngram: int = 2) -> list[dict]:
    import yake

    lan = language if language in YAKE_LANGUAGES else "en"
    extractor = yake.KeywordExtractor(lan=lan, n=max_ngram, top=top, dedupLim=0.9)
    # YAKE scores: lower is more relevant.
    return [{"keyword": phrase, "score": round(float(score), 6)} for phrase, score in extractor.extract_keywords(text)]


class KeywordsAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: KeywordsSettings | None = None) -> Findings:
        options = options or self.settings or KeywordsSettings()
        text, clipped = clip(require_text(doc, "text.keywords"), options.max_chars)
        if not text.strip():
            return Findings(data={"keywords": [], "language": None, "truncated": False}, summary="no text")
        language = options.language if options.language != "auto" else (detected_language(doc, text) or "en")
        keywords = extract(text, language, options.top, options.max_ngram)
        return Findings(data={"keywords": keywords, "language": language, "truncated": clipped},
                        summary=", ".join(k["keyword"] for k in keywords[:5]) or "no keywords")
