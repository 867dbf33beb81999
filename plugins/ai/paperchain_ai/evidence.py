"""The evidence an ``ai.answer`` answer may rest on, and the check that it rests on it.

Evidence: the retrieved passages cut into sentences, each embedded (E5 ``passage:``) and scored
against the question (E5 ``query:``). multilingual-e5 shares one space across languages, so a
Spanish question finds an English sentence. The best sentences, if any reaches ``min_score``, each
with the sentence before and after it in its passage, are what the model is shown and what an
answer may cite.

Support (post-hoc attribution): an answer stands only on evidence that supports it, and evidence
supports it when one of its sentences does, that is when

- every number in the answer is a number of the evidence (digits or a number word: "twelve" is 12,
  "1,250.00" is 1250), so a made-up amount is refused whatever the embeddings say;
- the answer is not the question said back (it brings a word the question does not have);
- the answer's vector is within cosine ``SUPPORT_FLOOR`` of the sentence's, and is at least as close
  to it as the question is (an answer restates its sentence; a question only asks about it), or at
  least half of the answer's content words are the sentence's.

Calibrated with multilingual-e5-small on the tests' texts (2026-12-08): a sentence that answers a
question scores 0.83-0.86 against it, unrelated sentences 0.67-0.79 (0.82 for an unrelated one in
the question's own language); an answer restating its sentence 0.85-0.91, in another language too,
while "approved" or "Paris is the capital of France." stay under 0.77 against every sentence. Numbers
move the embeddings little ("due on the 15th" scored 0.84 against "due on the first day"): the number
rule is what refuses a wrong amount or date. A wrong claim without numbers may still pass; the
citations quote the sentences, so a reader checks the answer against them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import numpy as np

MAX_SENTENCE_CHARS = 400  # a longer run without a full stop (a table, a list) is cut at words
MAX_SENTENCES = 64  # sentences embedded per question: the best passages' first
EVIDENCE_MARGIN = 0.03  # evidence is within this cosine of the best sentence
WINDOW = 1  # sentences either side of an evidence sentence shown and quoted with it
SUPPORT_FLOOR = 0.8  # cosine of an answer to a sentence it rests on, at the least
LEXICAL_SUPPORT = 0.5  # share of the answer's content words a sentence must hold to support it by words

# Words before a full stop that does not end the sentence (English and Spanish), lowercase.
ABBREVIATIONS = frozenset("""mr mrs ms dr prof sr sra srta sres dña st jr no nº núm num art arts inc ltd co corp
    etc vs approx aprox av avda dept dpto fig tel ext ref vol pág pag p pp cap ed ud uds jan feb mar apr jun jul
    aug sep sept oct nov dec ene abr ago dic""".split())
_BREAK = re.compile(r"[.!?…]+[\"'”’»)\]]*(?:\s+|(?=[¿¡]))")
_BEFORE = re.compile(r"([\w]+(?:\.[\w]+)*)$")
_OPENERS = "\"'“‘«([¿¡"
_WORD = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

STOPWORDS = frozenset("""a an and are as at be been by can did do does for from had has have how i if in into is
    it its may me my of on or our shall should so that the their them then there these they this those to
    under was we were what when where which who whom whose why will with would you your
    al como con cual cuales cuando cuanto cuanta cuantos cuantas de del donde el ella ellas ellos en es esa ese
    eso esta este esto estos estas fue ha han hay la las le les lo los mas me mi mis muy no nos o para pero
    por que quien se ser si sin sobre son su sus te tu un una uno unos unas y ya qué cuál cuáles cuándo cuánto
    cuánta cuántos cuántas dónde quién cómo más""".split())
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "hundred": 100,
    "thousand": 1000, "first": 1, "second": 2, "third": 3,
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "once": 11, "doce": 12, "quince": 15, "veinte": 20, "treinta": 30, "cien": 100,
    "mil": 1000, "primer": 1, "primero": 1, "primera": 1, "segundo": 2, "segunda": 2, "tercer": 3, "tercero": 3,
}
_SPANISH = frozenset("el la los las del qué cuál cuándo cuánto cuánta dónde quién cómo es son hay de en para por "
                     "que una un se su sus con".split())
_ENGLISH = frozenset("the what which when how much many who where is are does do of in for to a an on".split())


def split_sentences(text: str) -> list[str]:
    """``text``'s sentences (English and Spanish prose): cut after ``.``, ``!``, ``?`` or ``…`` where a
    capital, a digit, ``¿`` or ``¡`` follows (not after an abbreviation or an initial: "Dr. Ruiz",
    "J. Smith", "S.A."; decimals and codes like "1,250.00" and "2026-114" have no space to cut at),
    at blank lines, and at line breaks unless the next line goes on in lowercase (a wrapped line)."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text or ""):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        merged: list[str] = []
        for line in lines:
            if merged and line[0].islower():
                merged[-1] += " " + line
            else:
                merged.append(line)
        for line in merged:
            sentences.extend(_split_line(" ".join(line.split())))
    return [s for s in (_fit(piece) for sentence in sentences for piece in _pieces(sentence)) if s]


def _split_line(line: str) -> list[str]:
    found, start = [], 0
    for mark in _BREAK.finditer(line):
        rest = line[mark.end():]
        first = rest.lstrip(_OPENERS)[:1]
        if not (first.isupper() or first.isdigit() or rest[0] in "¿¡"):
            continue
        before = _BEFORE.search(line[start:mark.start()])
        word = before.group(1) if before else ""
        if mark.group().startswith(".") and (word.lower() in ABBREVIATIONS or "." in word
                                             or (len(word) == 1 and word.isalpha())):
            continue
        found.append(line[start:mark.end()].strip())
        start = mark.end()
    found.append(line[start:].strip())
    return found


def _pieces(sentence: str) -> list[str]:
    """A sentence longer than MAX_SENTENCE_CHARS cut at words into pieces that are not."""
    pieces = []
    while len(sentence) > MAX_SENTENCE_CHARS:
        cut = sentence.rfind(" ", 0, MAX_SENTENCE_CHARS)
        cut = cut if cut > MAX_SENTENCE_CHARS // 2 else MAX_SENTENCE_CHARS
        pieces.append(sentence[:cut])
        sentence = sentence[cut:].lstrip()
    return [*pieces, sentence]


def _fit(sentence: str) -> str:
    """The sentence, or '' when it holds too little to be evidence (a list number, a lone mark)."""
    sentence = sentence.strip()
    return sentence if len(re.findall(r"\w", sentence)) >= 3 else ""


# -- words and numbers ------------------------------------------------------------------------------

def _number(token: str) -> str:
    """A number written one way whatever its separators: a group of three digits after a separator is
    thousands, another last group decimals (1,250.00, 1.250 and 1250 alike; 1.250,5 and 1,250.50 alike)."""
    groups = re.split(r"[.,]", token)
    decimals = groups.pop() if len(groups) > 1 and len(groups[-1]) != 3 else ""
    whole, decimals = "".join(groups).lstrip("0") or "0", decimals.rstrip("0")
    return f"{whole}.{decimals}" if decimals else whole


def numbers(text: str) -> set[str]:
    """The numbers ``text`` states, in digits or in (English or Spanish) number words."""
    found = {_number(token) for token in _NUMBER.findall(text)}
    found |= {str(_NUMBER_WORDS[w]) for w in re.findall(r"[^\W\d_]+", text.lower()) if w in _NUMBER_WORDS}
    return found


def content_words(text: str) -> set[str]:
    """The words that carry meaning (no function words), cut to five letters so that forms of a word
    meet ("month", "months"); numbers as :func:`numbers` writes them."""
    words = set()
    for token in _WORD.findall(text.lower()):
        if token[0].isdigit():
            words.add(_number(token))
        elif len(token) >= 3 and token not in STOPWORDS:
            words.add(str(_NUMBER_WORDS[token]) if token in _NUMBER_WORDS else token[:5])
    return words


def language_of(text: str) -> str:
    """"Spanish" or "English" when ``text`` is plainly one of them, else '' (the question's own)."""
    if "¿" in text or "¡" in text or "ñ" in text.lower():
        return "Spanish"
    words = re.findall(r"[^\W\d_]+", text.lower())
    spanish = sum(w in _SPANISH for w in words) + sum(any(c in "áéíóú" for c in w) for w in words)
    english = sum(w in _ENGLISH for w in words)
    if spanish > english:
        return "Spanish"
    return "English" if english > spanish else ""


# -- evidence and support -------------------------------------------------------------------------

@attrs.frozen(eq=False)
class Sentence:
    """A sentence of a passage: where it is, what it says, its vector and its cosine to the question."""

    document: str
    page: int | None
    text: str
    vector: Any
    score: float


@attrs.frozen(eq=False)
class Evidence:
    """What the model is shown and an answer may cite: a sentence near the question with the
    sentences around it in its passage (a question often names what one sentence says and the next
    answers: "Invoice 2026-114 from Northwind Supplies." "The total amount due is 1,250 euros.")."""

    document: str
    page: int | None
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def score(self) -> float:
        return max(s.score for s in self.sentences)


Encode = Callable[..., Awaitable[np.ndarray]]  # VectorIndex.encode: (texts, *, query) -> unit rows


async def find(passages: Sequence[Any], question: str, encode: Encode, *, limit: int, min_score: float) -> list[Evidence]:
    """The evidence for ``question`` in ``passages`` (``document``, ``page``, ``text``; best first):
    the sentences that :func:`select` keeps, each with WINDOW sentences either side from its passage
    (windows that overlap merged), best first. Sentences are embedded once each (chunks overlap, so
    a sentence may come twice), at most MAX_SENTENCES of them, the best passages' first."""
    split = [split_sentences(passage.text) for passage in passages]
    places: dict[tuple[str, str], tuple[int, int]] = {}
    for number, (passage, sentences) in enumerate(zip(passages, split, strict=True)):
        for position, text in enumerate(sentences):
            places.setdefault((passage.document, text), (number, position))
    if not places:
        return []
    query = (await encode([question], query=True))[0]
    scored: dict[tuple[str, str], Sentence] = {}

    async def score(keys: list[tuple[str, str]]) -> None:
        vectors = await encode([text for _, text in keys], query=False)
        for key, vector in zip(keys, vectors, strict=True):
            scored[key] = Sentence(key[0], passages[places[key][0]].page, key[1], vector, float(vector @ query))

    await score(list(places)[:MAX_SENTENCES])
    spans: list[list[int]] = []  # [passage, first position, last position]
    for sentence in select(list(scored.values()), limit=limit, min_score=min_score):
        number, position = places[(sentence.document, sentence.text)]
        low, high = max(position - WINDOW, 0), min(position + WINDOW, len(split[number]) - 1)
        for span in spans:
            if span[0] == number and low <= span[2] and high >= span[1]:
                span[1], span[2] = min(span[1], low), max(span[2], high)
                break
        else:
            spans.append([number, low, high])
    keys = [[(passages[number].document, text) for text in split[number][low:high + 1]] for number, low, high in spans]
    missing = list(dict.fromkeys(key for window in keys for key in window if key not in scored))
    if missing:  # a neighbour past MAX_SENTENCES
        await score(missing)
    return [Evidence(passages[number].document, passages[number].page, tuple(scored[key] for key in window))
            for (number, _, _), window in zip(spans, keys, strict=True)]


def select(sentences: Sequence[Sentence], *, limit: int, min_score: float) -> list[Sentence]:
    """Up to ``limit`` sentences, best first, that reach ``min_score`` and are within
    EVIDENCE_MARGIN of the best one; none when no sentence reaches ``min_score``."""
    ranked = sorted(sentences, key=lambda s: -s.score)
    if not ranked or ranked[0].score < min_score:
        return []
    floor = max(min_score, ranked[0].score - EVIDENCE_MARGIN)
    return [s for s in ranked if s.score >= floor][:limit]


def supporting(answer: str, answer_vector: np.ndarray, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence that supports ``answer`` (its vector: E5 ``passage:``), closest first: where
    one of its sentences does (see the module's notes); none when the answer is unsupported (a
    number the evidence does not state, the question said back, or no sentence near enough)."""
    if not answer.strip() or not evidence:
        return []
    stated = set().union(*(numbers(e.text) for e in evidence))
    if not numbers(answer) <= stated:
        return []
    words = content_words(answer)
    if not words - content_words(question) or answer.rstrip().endswith("?"):
        return []
    found = []
    for unit in evidence:
        best = 0.0
        for sentence in unit.sentences:
            similarity = float(answer_vector @ sentence.vector)
            shared = len(words & content_words(sentence.text)) / len(words)
            if similarity >= SUPPORT_FLOOR and (similarity >= sentence.score or shared >= LEXICAL_SUPPORT):
                best = max(best, similarity)
        if best:
            found.append((best, unit))
    return [unit for _, unit in sorted(found, key=lambda pair: -pair[0])]
