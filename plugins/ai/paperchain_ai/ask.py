"""Questions over a tenant's documents: hybrid retrieval, evidence sentences, and an answer that
stands on them or quotes them.

1. Retrieval: :func:`~paperchain_ai.search.hybrid_search` for the asker's tenant (full text and
   vectors, only documents the tenant may see), then the best chunks of each document found by
   meaning. A document counts when full-text search matched it or its best chunk is at least
   ``min_similarity`` from the question.
2. Evidence: those chunks' sentences nearest the question, each with its neighbours
   (:mod:`paperchain_ai.evidence`; across languages). None near enough: "The documents do not
   say." (mode ``none``), the model not asked.
3. The model answers from the numbered evidence, JSON ``{"answer": …}``.
4. The answer's sentences are kept (mode ``generated``) only where evidence supports them, and
   that evidence is the citations. When none is (a number the evidence does not state, no valid
   answer, the model failed or timed out), the answer is the best evidence quoted as it is (mode
   ``quoted``). Either way every citation is evidence from the asker's own tenant's documents,
   quoted, and no claim is made that the documents do not back.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import numpy as np
import sqlalchemy as sa

from paperchain_sdk import TransientError

from . import prompts
from .evidence import Evidence, find, language_of, split_sentences, supporting
from .index import index_for
from .providers import ChatAnswer, ChatProvider, ChatRequest
from .schemas import AnswerError, answer_schema, cut_field, parse_answer
from .search import check_query, hybrid_search
from .settings import AnswerSettings
from .storage import chunks

log = logging.getLogger(__name__)
NOT_FOUND = "The documents do not say."
PASSAGE_CHARS = 1500
MODES = ("generated", "quoted", "none")


@attrs.frozen(kw_only=True)
class Citation:
    """A sentence an answer rests on: its document (id and name), page, and the sentence quoted."""

    document: str
    page: int | None = None
    name: str = ""
    quote: str = ""


@attrs.frozen(kw_only=True)
class Answer:
    """mode: ``generated`` (the model's answer, supported by the cited sentences), ``quoted`` (the
    best evidence sentence itself) or ``none`` (nothing in the documents; found is false)."""

    question: str
    answer: str
    found: bool
    mode: str = attrs.field(default="none", validator=attrs.validators.in_(MODES))
    citations: tuple[Citation, ...] = ()
    model: str = ""


@attrs.frozen
class Passage:
    document: str
    page: int | None
    text: str


async def retrieve(kernel: Any, question: str, tenant: str, settings: AnswerSettings) -> list[Passage]:
    """The passages to answer from: the best ``passages`` chunks of each relevant document among
    the ``documents`` best hybrid hits, best document first."""
    hits = await hybrid_search(kernel, question, tenant, limit=settings.documents)
    relevant = [h for h in hits if h.full_text_rank is not None or (h.similarity or 0) >= settings.min_similarity]
    if not relevant:
        return []
    index = await index_for(kernel)
    query = (await index.encode([question], query=True))[0]
    statement = sa.select(chunks.c.document_id, chunks.c.page, chunks.c.text, chunks.c.vector).where(
        chunks.c.document_id.in_([h.document_id for h in relevant]), chunks.c.model == index.model)
    if tenant:  # hybrid_search kept only this tenant's documents; the chunks are filtered again all the same
        statement = statement.where(chunks.c.tenant == tenant)
    by_document: dict[str, list[tuple[float, Passage]]] = {}
    for row in await index.store.read(statement):
        score = float(np.frombuffer(row.vector, dtype="<f4") @ query)
        by_document.setdefault(row.document_id, []).append(
            (score, Passage(row.document_id, row.page, prompts.clip(row.text, PASSAGE_CHARS))))
    passages: list[Passage] = []
    for hit in relevant:
        best = sorted(by_document.get(hit.document_id, []), key=lambda pair: -pair[0])[: settings.passages]
        if best:
            passages.extend(passage for _, passage in best)
        elif hit.snippet:  # found by full text but not embedded: its marked snippet is the passage
            passages.append(Passage(hit.document_id, hit.page, hit.snippet.replace("[", "").replace("]", "")))
    return passages


async def answer_question(kernel: Any, provider: ChatProvider, question: str, tenant: str,
                          settings: AnswerSettings) -> Answer:
    question = check_query(question)
    passages = await retrieve(kernel, question, tenant, settings)
    index = await index_for(kernel)
    evidence = await find(passages, question, index.encode, limit=settings.evidence, min_score=settings.min_evidence)
    if not evidence:
        return Answer(question=question, answer=NOT_FOUND, found=False, mode="none")
    text, model = await generate(provider, question, evidence, settings)
    kept, support = await _supported(index, text, question, evidence) if text else ("", [])
    if kept:
        return Answer(question=question, answer=kept, found=True, mode="generated", model=model,
                      citations=await _citations(kernel, support))
    if text:
        log.info("ai.answer: the model's answer is not supported by the evidence; quoting it instead")
    return Answer(question=question, answer=evidence[0].text, found=True, mode="quoted",
                  citations=await _citations(kernel, evidence[:1]))


async def generate(provider: ChatProvider, question: str, evidence: list[Evidence],
                   settings: AnswerSettings) -> tuple[str, str]:
    """The model's answer from the evidence and the model's name; ``("", "")`` when it gave no
    usable answer (asked again ``repairs`` times) or failed: the caller quotes the evidence."""
    prompt = prompts.answer(question, [unit.text for unit in evidence], language_of(question))
    messages: list[dict[str, str]] = prompts.message(prompt)
    schema = answer_schema()
    for _ in range(settings.repairs + 1):
        try:
            reply = await provider.chat(ChatRequest(messages=messages, schema=schema, max_tokens=settings.max_tokens,
                                                    temperature=0.0))
        except TransientError as exc:  # timed out, busy, unreachable: the evidence is still there to quote
            log.warning("ai.answer: the model failed (%s); quoting the evidence", exc)
            return "", ""
        try:
            return read_answer(reply), reply.model
        except AnswerError as exc:
            messages = [*messages, {"role": "assistant", "content": reply.text},
                        {"role": "user", "content": prompts.repair(str(exc))}]
    return "", ""


def read_answer(reply: ChatAnswer) -> str:
    """The answer in ``reply``. One cut at max_tokens keeps its complete sentences (a small model
    that repeats itself is cut there); AnswerError when nothing usable is left."""
    if reply.finish_reason != "length":
        text = str(parse_answer(reply.text, answer_schema())["answer"]).strip()
    else:
        text = " ".join(cut_field(reply.text, "answer"))
    if not text:
        raise AnswerError("the answer is empty or was cut before its first sentence ended")
    return text


async def _supported(index: Any, text: str, question: str, evidence: list[Evidence]) -> tuple[str, list[Evidence]]:
    """The sentences of the model's answer that the evidence supports, and that evidence (in the
    evidence's order). A sentence that it does not support (a made-up amount after a right one) is
    dropped: what is left is what the citations back."""
    sentences = split_sentences(text) or [text]
    vectors = await index.encode(sentences, query=False)
    kept, backing = [], set()
    for sentence, vector in zip(sentences, vectors, strict=True):
        support = supporting(sentence, vector, question, evidence)
        if support:
            kept.append(sentence)
            backing.update(id(unit) for unit in support)
    return " ".join(kept), [unit for unit in evidence if id(unit) in backing]


async def _citations(kernel: Any, evidence: list[Evidence]) -> tuple[Citation, ...]:
    names: dict[str, str] = {}
    for document in dict.fromkeys(unit.document for unit in evidence):
        names[document] = (await kernel.documents.get(document, text=False)).name
    return tuple(Citation(document=unit.document, page=unit.page, name=names[unit.document], quote=unit.text)
                 for unit in evidence)
