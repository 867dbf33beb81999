"""``ai.classify``: one of the step's labels for the run's document, with a confidence.

The answer is constrained to ``{"label": {"enum": labels}, "confidence": 0..1}`` and validated, so
a label outside the step's set cannot come out, whatever the document says."""

from __future__ import annotations

from paperchain_sdk import DocumentUpdate, Result

from .. import prompts
from ..schemas import classify_schema, finite
from .asking import AIStep, ask_json


class ClassifyStep(AIStep):
    async def run(self, ctx, inputs) -> Result:
        document, text = await self.document_text(ctx, "ai.classify")
        labels = [label.strip() for label in inputs.labels]
        schema = classify_schema(labels)
        provider = self.provider(inputs.provider)

        def confident(answer) -> None:
            finite(answer["confidence"], "confidence")

        answer, reply = await ask_json(provider, prompts.classify(prompts.clip(text, inputs.max_chars), labels,
                                                                  inputs.instructions),
                                       schema, where="ai.classify", max_tokens=inputs.max_tokens,
                                       repairs=inputs.repairs, check=confident,
                                       accept=classify_schema(labels, bounded=False))
        label = answer["label"]
        outputs = {"label": label, "confidence": round(min(1.0, max(0.0, float(answer["confidence"]))), 4),
                   "model": reply.model}
        tag = {k.strip(): v for k, v in inputs.tags.items()}.get(label)
        return Result(outputs=outputs, document=DocumentUpdate(tags=(tag,)) if tag else None)
