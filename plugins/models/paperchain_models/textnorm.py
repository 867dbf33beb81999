"""Text normalization shared by training and serving.

skl2onnx's TF-IDF tokenizer differs from scikit-learn's on capitals and accents, so both sides
see text that is already lower-case, accent-free and single-spaced: then they agree exactly.
"""

from __future__ import annotations

import unicodedata

# No "(?u)": a converted pattern with it fails to load in onnxruntime. On str patterns \w is
# Unicode-aware anyway.
TOKEN_PATTERN = r"\b\w\w+\b"
MAX_CHARS = 200_000


def normalize_text(text: str) -> str:
    """Lower-case, strip accents (NFKD without combining marks), collapse whitespace.

    >>> normalize_text("  Señor   MÜLLER\\n")
    'senor muller'
    """
    text = text[:MAX_CHARS]
    if not text.isascii():  # ASCII text has nothing to decompose: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().split())  # str.split() is several times faster than a \s+ regex
