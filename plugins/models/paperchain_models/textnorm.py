"""Text normalization shared by training and serving.

skl2onnx's TF-IDF tokenizer differs from scikit-learn's on capitals and accents, so both sides
see text that is already lower-case and accent-free: then they agree exactly. Training also
collapses whitespace (``normalize_text``); serving skips that (``fold_text``), because the token
pattern never matches whitespace: both give the same tokens, and serving saves a pass per word.
"""

from __future__ import annotations

import unicodedata

# No "(?u)": a converted pattern with it fails to load in onnxruntime. On str patterns \w is
# Unicode-aware anyway.
TOKEN_PATTERN = r"\b\w\w+\b"
MAX_CHARS = 200_000
# What str.split() counts as whitespace among ASCII characters, besides the space itself.
_ASCII_WHITESPACE = "\n\t\r\x0b\x0c\x1c\x1d\x1e\x1f"


def fold_text(text: str) -> str:
    """Lower-case and strip accents, whitespace left as it is: what serving feeds the tokenizer.

    ``TOKEN_PATTERN`` finds the same tokens in it as in ``normalize_text(text)``.
    """
    text = text[:MAX_CHARS]
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def normalize_text(text: str) -> str:
    """Lower-case, strip accents (NFKD without combining marks), collapse whitespace.

    >>> normalize_text("  Señor   MÜLLER\\n")
    'senor muller'
    """
    text = text[:MAX_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        return " ".join(text.lower().split())
    # ASCII (most documents): the same result as " ".join(text.lower().split()) in a few C-speed
    # passes over the string, instead of one Python object per word (3-4x faster on a page).
    text = text.lower()
    for ch in _ASCII_WHITESPACE:
        if ch in text:
            text = text.replace(ch, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip(" ")
