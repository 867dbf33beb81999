"""``ai.answer``: a question over the run's tenant's documents, answered with the documents and
pages it used, or ``found = false`` when they do not say (see :mod:`paperchain_ai.ask`)."""

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
        return {"answer": answer.answer, "found": answer.found, "model": answer.model,
                "citations": [{"document": c.document, "page": c.page, "name": c.name} for c in answer.citations]}
