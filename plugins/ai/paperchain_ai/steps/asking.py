"""What the AI steps share: the provider they ask, the document's text, and asking for JSON that
fits a schema (asked again once when it does not, then a clear, retryable error)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from paperchain_sdk import InputError, TransientError
from paperchain_sdk.contracts import Action, KernelBound

from .. import prompts
from ..providers import ChatAnswer, ChatProvider, ChatRequest, provider_for
from ..schemas import AnswerError, parse_answer


class AIStep(KernelBound, Action):
    """An AI step: bound to its kernel at startup (it asks a provider component and emits events)."""

    def provider(self, name: str) -> ChatProvider:
        return provider_for(self.kernel, name)

    async def document_text(self, ctx, step: str) -> tuple[Any, str]:
        """The run's document and its text: what an earlier step of this run found, or what the
        kernel stored. InputError when there is none."""
        if ctx.document is None:
            raise InputError(f"{step} needs a document.", hint="start the run with a document (files or documents)")
        document = ctx.document
        if document.text is None:
            document = await self.kernel.documents.get(document.id)
        if not (document.text or "").strip():
            raise InputError(f"{document.name} has no text yet.",
                             hint=f"put a document.text or ocr.recognize step before {step}, with needs")
        return document, document.text


async def ask_json(provider: ChatProvider, prompt: str, schema: Mapping[str, Any], *, where: str,
                   max_tokens: int, repairs: int, temperature: float = 0.0,
                   check: Callable[[Any], None] | None = None,
                   accept: Mapping[str, Any] | None = None,
                   cut: Callable[[str], Any] | None = None) -> tuple[Any, ChatAnswer]:
    """The parsed answer that fits ``schema`` (and ``check``) and the provider's reply. An answer
    that does not fit is shown to the model with the reason and asked again ``repairs`` times; then
    a TransientError says what was wrong (a retry of the step may do better; a sampling model may).
    ``accept``: a looser schema to validate with, where the step mends what ``schema`` asks for
    but not every backend enforces (a confidence above 1 is clamped, not refused).
    ``cut``: reads an answer cut at max_tokens into a value (or raises AnswerError), for answers whose
    complete part is still usable (a summary's finished sentences); without it a cut answer is retried."""
    messages: list[dict[str, str]] = prompts.message(prompt)
    reason = ""
    for _ in range(repairs + 1):
        reply = await provider.chat(ChatRequest(messages=messages, schema=schema, max_tokens=max_tokens,
                                                temperature=temperature))
        try:
            if reply.finish_reason == "length":
                if cut is None:
                    raise AnswerError(f"the answer was cut at max_tokens ({max_tokens}) before it was complete")
                return parse_answer(json.dumps(cut(reply.text)), schema if accept is None else accept, check), reply
            return parse_answer(reply.text, schema if accept is None else accept, check), reply
        except AnswerError as exc:
            reason = str(exc)
            messages = [*messages, {"role": "assistant", "content": reply.text}, {"role": "user",
                                                                                  "content": prompts.repair(reason)}]
    raise TransientError(f"{where}: the model {provider.name or type(provider).__name__} gave no valid answer in {repairs + 1} "
                         f"tries; the last one: {reason}.",
                         hint="retry the step (retry = 2), raise max_tokens if answers are cut, or use a larger model")
