"""The evidence of ai.answer: sentences cut right in English and Spanish, numbers read alike
whatever their separators, and the support check with the real multilingual-e5 embedder (a
restated answer is supported in either language; a wrong amount, the question said back or an
unrelated claim is not)."""

from __future__ import annotations

import pytest

from paperchain_ai.evidence import (
    MAX_SENTENCE_CHARS,
    Evidence,
    Sentence,
    content_words,
    find,
    language_of,
    numbers,
    select,
    split_sentences,
    supporting,
)

RENT = "The monthly rent is due on the first day of each month and the term is twelve months."
TOTAL = "The total amount due is 1,250.00 euros for office chairs and desks delivered in March."


@pytest.mark.parametrize(("text", "sentences"), [
    ("Invoice 2026-114 from Northwind Supplies. The total amount due is 1,250.00 euros. Please pay!",
     ["Invoice 2026-114 from Northwind Supplies.", "The total amount due is 1,250.00 euros.", "Please pay!"]),
    ("Dr. Ruiz firmó el contrato. ¿Cuándo vence? El día 1 de marzo. ¡Gracias por todo!",
     ["Dr. Ruiz firmó el contrato.", "¿Cuándo vence?", "El día 1 de marzo.", "¡Gracias por todo!"]),
    ("El Sr. García pagó 1.250,50 euros a J. Smith de Acme S.A. el lunes. Fin del documento",
     ["El Sr. García pagó 1.250,50 euros a J. Smith de Acme S.A. el lunes.", "Fin del documento"]),
    ("Pagado el 3 de enero.¿Algo más? Nada más.", ["Pagado el 3 de enero.", "¿Algo más?", "Nada más."]),
    ("Title line\nThe rent is due on the\nfirst day of the month.\n\nA new paragraph",
     ["Title line", "The rent is due on the first day of the month.", "A new paragraph"]),
    ("Version 2.5 costs 3.99 dollars. it goes on in lowercase.", ["Version 2.5 costs 3.99 dollars. it goes on in lowercase."]),
    ("1. 2. Parties.", ["Parties."]),
    ("", []),
])
def test_sentences_in_english_and_spanish(text, sentences):
    assert split_sentences(text) == sentences


def test_a_long_run_without_full_stops_is_cut_at_words():
    pieces = split_sentences(" ".join(["word"] * 300))
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == " ".join(["word"] * 300)


def test_numbers_read_alike_whatever_their_separators_or_words():
    assert numbers("1,250.00 euros") == numbers("1.250 euros") == numbers("1250 euros") == {"1250"}
    assert numbers("1.250,50") == numbers("1,250.50") == {"1250.5"}
    assert numbers("0.5") == {"0.5"} != numbers("5")
    assert numbers("twelve months, the first day") == numbers("doce meses, el primer día") == {"12", "1"}
    assert numbers("Invoice 2026-114") == {"2026", "114"}
    assert content_words("The monthly rents are due") == {"month", "rents", "due"}


@pytest.mark.parametrize(("text", "language"), [
    ("¿Qué día vence el alquiler mensual?", "Spanish"), ("Cuánto hay que pagar en la factura", "Spanish"),
    ("What is the monthly rent due on?", "English"), ("Wie viel kostet das?", ""),
])
def test_the_questions_language(text, language):
    assert language_of(text) == language


def _sentence(text, score, document="d1"):
    return Sentence(document, None, text, None, score)


def test_evidence_is_the_best_sentences_above_the_threshold_within_a_margin():
    sentences = [_sentence("a b c", 0.80), _sentence("best one", 0.86), _sentence("close", 0.84), _sentence("far", 0.82)]
    assert [s.text for s in select(sentences, limit=3, min_score=0.8)] == ["best one", "close"]
    assert [s.text for s in select(sentences, limit=1, min_score=0.8)] == ["best one"]
    assert select(sentences, limit=3, min_score=0.9) == []
    assert select([], limit=3, min_score=0.8) == []


@pytest.fixture(scope="module")
def embed():
    from paperchain_ai.models import embedder

    model = embedder("multilingual-e5-small")
    return lambda texts, query=False: model.encode(list(texts), query=query)


def _evidence(embed, question, texts):
    vectors, query = embed(texts), embed([question], query=True)[0]
    return [Evidence("d1", 2, (Sentence("d1", 2, text, vectors[i], float(vectors[i] @ query)),))
            for i, text in enumerate(texts)]


@pytest.mark.parametrize(("question", "answer", "supported"), [
    ("What is the monthly rent due on?", "On the first day of each month.", [RENT]),
    ("¿Qué día vence el alquiler mensual?", "El alquiler vence el primer día de cada mes.", [RENT]),
    ("How long is the lease term?", "The lease term is 12 months.", [RENT]),
    ("¿Cuánto hay que pagar en la factura?", "Hay que pagar 1.250 euros.", [TOTAL]),
    ("¿Cuánto hay que pagar en la factura?", "Hay que pagar 3.400 euros.", []),  # an amount the evidence does not state
    ("¿Qué día vence el alquiler mensual?", "El alquiler vence el día 15 de cada mes.", []),
    ("¿Qué día vence el alquiler mensual?", "¿Qué día vence el alquiler mensual?", []),  # the question said back
    ("What is the monthly rent due on?", "approved", []),
    ("What is the monthly rent due on?", "Paris is the capital of France.", []),
])
def test_an_answer_is_supported_only_by_what_the_evidence_says(embed, question, answer, supported):
    evidence = _evidence(embed, question, [RENT, TOTAL])
    found = supporting(answer, embed([answer])[0], question, evidence)
    assert [s.text for s in found] == supported


class _Passage:
    def __init__(self, document, page, text):
        self.document, self.page, self.text = document, page, text


async def test_evidence_is_the_nearest_sentences_with_their_neighbours(embed):
    async def encode(texts, *, query):
        return embed(texts, query=query)

    invoice = ("Invoice 2026-114 from Northwind Supplies. " + TOTAL + " Please pay by bank transfer within thirty days. "
               "Thank you for your order. We also sell lamps.")
    passages = [_Passage("inv", 3, invoice), _Passage("inv", 3, invoice), _Passage("lease", None, RENT)]
    # Spanish question, English text: the sentence naming Northwind is nearest; the amount comes with it.
    [evidence] = await find(passages, "¿Cuánto hay que pagar en la factura de Northwind?", encode, limit=3, min_score=0.8)
    assert (evidence.document, evidence.page) == ("inv", 3)
    assert evidence.text == "Invoice 2026-114 from Northwind Supplies. " + TOTAL
    assert evidence.score == max(s.score for s in evidence.sentences) >= 0.8
    found = await find(passages, "¿Qué día vence el alquiler mensual?", encode, limit=3, min_score=0.8)
    assert [e.text for e in found] == [RENT]
    assert await find(passages, "¿Qué día vence el alquiler mensual?", encode, limit=3, min_score=0.95) == []
    assert await find([], "rent", encode, limit=3, min_score=0.8) == []
