"""``ai.summarize``: a summary of the run's document of at most ``max_words`` words."""

from __future__ import annotations

import re

from .. import prompts
from ..schemas import AnswerError, cut_field, summary_schema
from .asking import AIStep, ask_json

_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


def bounded(text: str, max_words: int) -> str:
    """``text`` cut to ``max_words`` words, at the last sentence end within them when there is one."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    head = " ".join(words[:max_words])
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    return head[: ends[-1]] if ends and ends[-1] > len(head) // 2 else head + " …"


def _finished_sentences(text: str) -> dict:
    """A summary cut at max_tokens (a small model that runs on): its finished sentences."""
    sentences = cut_field(text, "summary")
    if not sentences:
        raise AnswerError("the summary was cut at max_tokens before its first sentence ended")
    return {"summary": " ".join(sentences)}


class SummarizeStep(AIStep):
    async def run(self, ctx, inputs) -> dict:
        document, text = await self.document_text(ctx, "ai.summarize")
        provider = self.provider(inputs.provider)
        answer, reply = await ask_json(provider, prompts.summarize(prompts.clip(text, inputs.max_chars),
                                                                   inputs.max_words, inputs.language),
                                       summary_schema(), where="ai.summarize",
                                       max_tokens=inputs.max_words * 3 + 24, repairs=inputs.repairs,
                                       cut=_finished_sentences)
        summary = bounded(answer["summary"], inputs.max_words)
        return {"summary": summary, "words": len(summary.split()), "model": reply.model}
