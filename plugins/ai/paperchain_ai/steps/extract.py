"""``ai.extract``: the fields a JSON Schema in the step asks for (or the built-in invoice schema),
validated against it before the step outputs them."""

from __future__ import annotations

from paperchain_sdk import DocumentUpdate, Result

from .. import prompts
from ..schemas import check_step_schema
from .asking import AIStep, ask_json


class ExtractStep(AIStep):
    async def run(self, ctx, inputs) -> Result:
        document, text = await self.document_text(ctx, "ai.extract")
        schema = check_step_schema(inputs.schema)
        provider = self.provider(inputs.provider)
        fields, _ = await ask_json(provider, prompts.extract(prompts.clip(text, inputs.max_chars), schema,
                                                             inputs.instructions),
                                   schema, where="ai.extract", max_tokens=inputs.max_tokens, repairs=inputs.repairs)
        update = DocumentUpdate(metadata={**document.metadata, inputs.metadata: fields}) if inputs.metadata else None
        return Result(outputs=fields, document=update)
