"""``ai.answer``: a question over the run's tenant's documents, answered from evidence sentences
and citing them (document, page, name and the sentence quoted), or ``found = false`` when they do
not say. ``mode`` says whether the answer is the model's (``generated``), the best sentence quoted
(``quoted``) or nothing (``none``); see :mod:`paperchain_ai.ask`."""

from __future__ import annotations

from paperchain_sdk import InputError

from ..ask import answer_question
from .asking import AIStep


class AnswerStep(AIStep):
    async def run(self, ctx, inputs) -> dict:
        if not inputs.question.strip():
            raise InputError("ai.answer needs a question.",
                             hint='add question = "${{ inputs.question }}" (or the question itself) to the step\'s with')
        answer = await answer_question(self.kernel, self.provider(inputs.provider), inputs.question, ctx.tenant, inputs)
        return {"answer": answer.answer, "found": answer.found, "mode": answer.mode, "model": answer.model,
                "citations": [{"document": c.document, "page": c.page, "name": c.name, "quote": c.quote}
                              for c in answer.citations]}
