"""Spanish sentence sentiment: an opinion lexicon (``lexicon_es.tsv``) under VADER's rules.

Why not the naive-Bayes model of ``sentiment-analysis-spanish`` alone: it adds up the evidence
of every word, and in its training reviews the words of formal letters (``estimado`` -3.9,
``factura`` -4.1, ``cliente``, ``le``, ``que``: log-likelihood ratios) came from complaints, so
any business letter summed to strongly negative (44 neutral texts: mean -0.57, 25 at -0.5 or
below). Here only opinion words count, so a sentence with none is neutral.

The rules are VADER's (Hutto and Gilbert, 2014), with Spanish words: a negation (``no``,
``nunca``, ``sin``...) within the three words before an opinion word scales it by -0.74; a
booster (``muy``, ``tan``...) or dampener (``poco``, ``algo``...) just before it moves it by
0.293; after ``pero`` / ``sin embargo`` words weigh 1.5 and before them 0.5; each ``!`` (up to
4) adds 0.292; the sum ``s`` becomes ``s / sqrt(s*s + 15)``. Formulas of letters that contain
an opinion word but carry none (``buenos días``, ``disculpe las molestias``, ``gracias por su
atención``) are removed first.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from pathlib import Path

LEXICON_PATH = Path(__file__).with_name("lexicon_es.tsv")
NEGATIONS = frozenset("no nunca jamas ni tampoco sin nadie nada ningun ninguna ninguno".split())
BOOSTERS = frozenset(
    "muy tan realmente sumamente extremadamente increiblemente totalmente completamente absolutamente "
    "super demasiado bastante mucho muchisimo enormemente especialmente altamente".split()
)
DAMPENERS = frozenset("poco algo apenas ligeramente casi relativamente".split())
CONTRASTS = ("pero", "aunque")
FORMULAS = (
    "buenos dias", "buenas tardes", "buenas noches", "disculpe las molestias", "disculpen las molestias",
    "perdone las molestias", "perdonen las molestias", "sentimos las molestias", "lamentamos las molestias",
    "gracias por su atencion", "gracias por vuestra atencion", "gracias de antemano",
    "le agradeceria", "les agradeceria", "le agradeceriamos", "les agradeceriamos",
)
NEGATION_SCALAR = -0.74
BOOSTER_STEP = 0.293
EXCLAMATION_STEP = 0.292
ALPHA = 15.0
WORD = re.compile(r"[a-z]+")


def fold(text: str) -> str:
    """Lower case without accents (``ñ`` becomes ``n``), as the lexicon's keys are written."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1)
def lexicon() -> tuple[dict[str, float], dict[str, float]]:
    """(exact words, stems) with their valences."""
    exact, stems = {}, {}
    for line in LEXICON_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, value = line.split("\t")
        key = fold(key.strip())
        (stems if key.endswith("*") else exact)[key.rstrip("*")] = float(value)
    return exact, stems


def valence(word: str) -> float:
    """The word's valence: an exact entry, else the longest stem it starts with, else 0."""
    exact, stems = lexicon()
    if word in exact:
        return exact[word]
    for end in range(len(word), 2, -1):
        if word[:end] in stems:
            return stems[word[:end]]
    return 0.0


def _contrast_weights(words: list[str]) -> list[float]:
    text = " ".join(words)
    for contrast in CONTRASTS:
        at = f" {text} ".find(f" {contrast} ")
        if at >= 0:
            before = len(text[:at].split())
            return [0.5 if i < before else 1.5 for i in range(len(words))]
    return [1.0] * len(words)


def sentence_score(sentence: str) -> float:
    """VADER-style compound score in [-1, 1] of one Spanish sentence."""
    text = fold(sentence)
    for formula in FORMULAS:
        text = text.replace(formula, " ")
    text = text.replace("sin embargo", "pero")  # a contrast, not a negation
    words = WORD.findall(text)
    weights = _contrast_weights(words)
    total = 0.0
    for i, word in enumerate(words):
        value = valence(word)
        if value == 0.0:
            continue
        before = words[max(0, i - 3):i]
        if i and words[i - 1] in BOOSTERS:
            value += math.copysign(BOOSTER_STEP, value)
        elif i and words[i - 1] in DAMPENERS:
            value -= math.copysign(BOOSTER_STEP, value)
        if any(w in NEGATIONS for w in before):
            value *= NEGATION_SCALAR
        total += value * weights[i]
    if total:
        total += math.copysign(min(sentence.count("!"), 4) * EXCLAMATION_STEP, total)
    return total / math.sqrt(total * total + ALPHA)
