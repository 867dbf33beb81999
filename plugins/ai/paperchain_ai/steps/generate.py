"""``ai.generate``: text from a prompt template over the run's document and the run.

The template runs in the SDK's template sandbox. ``document.text`` in it reads the document's
text fenced as data (see :mod:`paperchain_ai.prompts`); a prompt that does not use it gets the
fenced text appended (``document = false`` to leave it out)."""

from __future__ import annotations

from paperchain_sdk import InputError
from paperchain_sdk.templates import render_template

from .. import prompts
from ..providers import ChatRequest
from .asking import AIStep
from .stream import TokenEvents


def template_context(ctx, document, text: str | None, inputs) -> dict:
    described = None
    if document is not None:
        described = {"id": document.id, "name": document.name, "media_type": document.media_type,
                     "size": document.size, "metadata": dict(document.metadata), "tags": list(document.tags),
                     "findings": dict(document.findings),
                     "text": prompts.fenced(prompts.clip(text, inputs.max_chars)) if text else ""}
    return {"document": described, "run": {"id": ctx.run_id, "workflow": ctx.workflow, "step": ctx.step_id,
                                           "attempt": ctx.attempt},
            "inputs": dict(ctx.inputs), "data": dict(inputs.data)}


class GenerateStep(AIStep):
    async def run(self, ctx, inputs) -> dict:
        if not inputs.prompt.strip():
            raise InputError("ai.generate needs a prompt.", hint='add prompt = "Write …" to the step\'s with')
        document, text = ctx.document, None
        if document is not None:
            if document.text is None:
                document = await self.kernel.documents.get(document.id)
            text = document.text or None
        prompt = render_template(inputs.prompt, template_context(ctx, document, text, inputs),
                                 where="ai.generate's prompt")
        if inputs.document and text and "document.text" not in inputs.prompt:
            prompt = f"{prompt}\n\n{prompts.fenced(prompts.clip(text, inputs.max_chars))}"
        provider = self.provider(inputs.provider)
        request = ChatRequest(messages=prompts.message(prompt), max_tokens=inputs.max_tokens,
                              temperature=inputs.temperature, seed=inputs.seed)
        if not inputs.stream:
            reply = await provider.chat(request)
            return {"text": reply.text, "model": reply.model, "tokens": reply.completion_tokens,
                    "finish_reason": reply.finish_reason}
        events = TokenEvents(self.kernel, ctx)
        pieces: list[str] = []
        async for piece in provider.stream(request):
            pieces.append(piece)
            await events.add(piece)
        await events.flush(done=True)
        return {"text": "".join(pieces), "model": provider.name,
                "tokens": len(pieces), "finish_reason": "length" if len(pieces) >= inputs.max_tokens else "stop"}
