"""``text.stats``: counts over the whole text (characters, words, sentences, paragraphs …)."""

from __future__ import annotations

import re
from collections import Counter

from paperchain_sdk import Document, Findings
from paperchain_sdk.contracts import Analyzer

from .settings import StatsSettings
from .textinput import require_text, sentences

WORD = re.compile(r"\w+")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def text_stats(text: str, most_common: int = 10) -> dict:
    words = WORD.findall(text.casefold())
    counts = Counter(words)
    paragraphs = [p for p in PARAGRAPH_BREAK.split(text) if p.strip()]
    return {
        "characters": len(text),
        "non_space_characters": sum(1 for c in text if not c.isspace()),
        "words": len(words),
        "unique_words": len(counts),
        "sentences": len(sentences(text)),
        "paragraphs": len(paragraphs),
        "lines": text.count("\n") + 1 if text else 0,
        "average_word_length": round(sum(map(len, words)) / len(words), 3) if words else 0.0,
        "lexical_diversity": round(len(counts) / len(words), 4) if words else 0.0,
        "most_common": [{"word": w, "count": c} for w, c in counts.most_common(most_common)],
    }


class StatsAnalyzer(Analyzer):
    def analyze(self, doc: Document, options: StatsSettings | None = None) -> Findings:
        options = options or self.settings or StatsSettings()
        data = text_stats(require_text(doc, "text.stats"), options.most_common)
        return Findings(data=data, summary=f"{data['words']} words, {data['sentences']} sentences")
