"""``ai.extract``: the fields a JSON Schema in the step asks for (or the built-in invoice schema),
validated against it, then grounded in the document's text (:mod:`paperchain_ai.grounding`) before
the step outputs them.

Outputs: the fields, and under ``_grounding`` what the check did: ``checked`` (whether it ran),
``unsupported`` (the fields whose answer the text does not support, now null) and ``filled`` (the
fields the text's own patterns filled). The document's metadata gets the fields only."""

from __future__ import annotations

from typing import Any

from paperchain_sdk import DocumentUpdate, Result, TransientError

from .. import prompts
from ..grounding import Text, ground, pattern_fills
from ..schemas import GROUNDING_KEY, check_step_schema
from .asking import AIStep, ask_json


class ExtractStep(AIStep):
    async def run(self, ctx, inputs) -> Result:
        document, text = await self.document_text(ctx, "ai.extract")
        schema = check_step_schema(inputs.schema)
        provider = self.provider(inputs.provider)
        shown = prompts.clip(text, inputs.max_chars)
        fields, _ = await ask_json(provider, prompts.extract(shown, schema, inputs.instructions),
                                   schema, where="ai.extract", max_tokens=inputs.max_tokens, repairs=inputs.repairs)
        fields, report = check_grounding(fields, schema, shown, grounded=inputs.grounded,
                                         fill=inputs.fill_from_patterns)
        update = DocumentUpdate(metadata={**document.metadata, inputs.metadata: fields}) if inputs.metadata else None
        return Result(outputs={**fields, GROUNDING_KEY: report}, document=update)


def check_grounding(fields: dict, schema: dict, text: str, *, grounded: bool, fill: bool) -> tuple[dict, dict[str, Any]]:
    """The fields with what ``text`` does not support made null and what its patterns fill filled,
    still valid for ``schema``; the report for ``_grounding``. A TransientError names the fields that
    are unsupported where the schema does not allow null (another answer may do better)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    source = Text(text)
    unsupported: tuple[str, ...] = ()
    if grounded:
        checked = ground(fields, schema, source)
        fields, unsupported = checked.fields, checked.unsupported
    filled = []
    if fill:
        for name, value in pattern_fills(schema, source).items():
            if name in fields and fields[name] is None and validator.is_valid({**fields, name: value}):
                fields = {**fields, name: value}
                filled.append(name)
    problem = next(iter(validator.iter_errors(fields)), None)
    if problem is not None:
        where = "/".join(str(p) for p in problem.path) or "the top level"
        raise TransientError(f"ai.extract: the document's text does not support the model's {', '.join(unsupported)}, "
                             f"and the schema does not allow null there (at {where}: {problem.message[:200]}).",
                             hint="let those fields be null in the schema (anyOf with {type = \"null\"}), "
                                  "retry the step, or set grounded = false to keep unsupported values")
    return fields, {"checked": grounded, "unsupported": list(unsupported), "filled": filled}

