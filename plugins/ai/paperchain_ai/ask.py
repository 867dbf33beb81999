"""Questions over a tenant's documents: hybrid retrieval, then an answer that cites its passages.

Retrieval is :func:`~paperchain_ai.search.hybrid_search` for the asker's tenant (full text and
vectors, only documents the tenant may see), then the best chunks of each document found by
meaning. A document counts when full-text search matched it or its best chunk is at least
``min_similarity`` from the question; when none counts, the answer says the documents do not say
without asking the model. The model sees numbered passages and answers JSON whose ``sources`` may
only be those numbers, so every citation is a passage it was shown: a document and page of the
asker's own tenant.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import sqlalchemy as sa

from . import prompts
from .index import index_for
from .providers import ChatProvider
from .schemas import AnswerError, answer_schema
from .search import check_query, hybrid_search
from .settings import AnswerSettings
from .steps.asking import ask_json
from .storage import chunks

NOT_FOUND = "The documents do not say."
PASSAGE_CHARS = 1500


@attrs.frozen(kw_only=True)
class Citation:
    document: str
    page: int | None = None
    name: str = ""


@attrs.frozen(kw_only=True)
class Answer:
    question: str
    answer: str
    found: bool
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
    if not passages:
        return Answer(question=question, answer=NOT_FOUND, found=False)
    numbers = {d: n for n, d in enumerate(dict.fromkeys(p.document for p in passages), start=1)}
    labelled = [(f"document {numbers[p.document]}" + (f", page {p.page}" if p.page else ""), p.text)
                for p in passages]

    def cited(value) -> None:
        if value["found"] and not value["sources"]:
            raise AnswerError("found is true but sources names no passage; list the passages the answer uses")

    value, reply = await ask_json(provider, prompts.answer(question, labelled), answer_schema(len(passages)),
                                  where="ai.answer", max_tokens=settings.max_tokens, repairs=settings.repairs,
                                  check=cited)
    if not value["found"]:
        return Answer(question=question, answer=value["answer"].strip() or NOT_FOUND, found=False, model=reply.model)
    used = dict.fromkeys((passages[n - 1].document, passages[n - 1].page) for n in value["sources"])
    names = {}
    for document in dict.fromkeys(d for d, _ in used):
        names[document] = (await kernel.documents.get(document, text=False)).name
    return Answer(question=question, answer=value["answer"].strip(), found=True, model=reply.model,
                  citations=tuple(Citation(document=d, page=p, name=names[d]) for d, p in used))
