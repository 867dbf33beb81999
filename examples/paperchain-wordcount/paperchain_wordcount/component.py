"""wordcount.count: words, lines and characters of a document, and its most frequent words.

What it finds (``Findings.data``, which becomes the step's outputs in a workflow)::

    words       whitespace-separated tokens, as ``wc -w`` counts them
    lines       lines of text (a last line without a newline counts too)
    characters  Unicode characters, not bytes
    top_words   [{"word": "invoice", "count": 4}, …]: the ``top`` most frequent words of at least
                ``min_length`` letters, case-folded, most frequent first and ties alphabetical
"""

import re
from collections import Counter

from paperchain_sdk import Findings, InputError
from paperchain_sdk.contracts import Analyzer

# Letters only, so "12.50" and "—" are not words; "don't" and "well-known" are one word each.
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


class WordcountAnalyzer(Analyzer):
    def analyze(self, doc, options):
        # ``options`` is a WordcountSettings: plugins.toml's values overlaid with the step's ``with``.
        text = _text_of(doc)
        counts = Counter(word.casefold() for word in _WORD.findall(text) if len(word) >= options.min_length)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: options.top]
        data = {
            "words": len(text.split()),
            "lines": len(text.splitlines()),
            "characters": len(text),
            # Findings must be JSON: a list of small dicts, not Counter or tuples.
            "top_words": [{"word": word, "count": count} for word, count in ranked],
        }
        summary = f"{data['words']} words, {data['lines']} lines, {data['characters']} characters"
        if ranked:
            summary += f"; most frequent: {ranked[0][0]!r}"
        return Findings(data=data, summary=summary)


def _text_of(doc):
    """The document's text: what an earlier extraction or OCR step found, else the file itself."""
    if doc.text is not None:
        return doc.text
    if not doc.media_type.startswith("text/"):
        # InputError tells the kernel not to retry: the same document would fail the same way.
        raise InputError(
            f"{doc.name} is {doc.media_type} and has no extracted text to count.",
            hint="add a text extraction or OCR step before this one in the workflow",
        )
    try:
        return doc.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{doc.name} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            hint="convert it to UTF-8, or extract its text in an earlier step",
        ) from None
