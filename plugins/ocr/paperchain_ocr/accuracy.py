"""Word accuracy of OCR text against a reference transcription (used by tests and the benchmark).

Words are compared as a bag (order-free, so the reading order of columns does not count),
lower-cased, with punctuation and curly quotes dropped.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'").replace("‘", "'"))


def word_accuracy(ocr: str, reference: str) -> dict[str, float]:
    """``recall`` (reference words found), ``precision`` (OCR words that are right) and ``f1``."""
    got, want = Counter(words(ocr)), Counter(words(reference))
    matched = sum((got & want).values())
    recall = matched / max(sum(want.values()), 1)
    precision = matched / max(sum(got.values()), 1)
    f1 = 2 * recall * precision / (recall + precision) if matched else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}
