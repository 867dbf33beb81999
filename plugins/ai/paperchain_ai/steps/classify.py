"""``ai.classify``: one of the step's labels for the run's document, with a confidence.

Two ways, the step's ``method`` picks (``auto``: the first where the provider can score):

- ``score``: for each label, the model rates how likely the document's opening (its first
  ``score_tokens`` tokens) is after the line "Category: <label>", once with the step's instructions
  above that line and once without (where there are instructions): the sum of those log-probabilities.
  The likeliest label wins and the confidence is the softmax of the sums over the labels, a real
  probability. Nothing is generated, so only a label of the step's set can come out. This is the
  noisy-channel form of zero-shot classification (Min et al. 2022); a small base model is far
  better at it than at writing an answer.

  Measured with Gemma 3 270M (2026-12-08) on 12 labelled texts: the five example documents as the
  ai-intake workflow reads them (expected invoice, contract, other, other, other: the Spanish letter
  confirms an order, it bills nothing), the tests' five texts and two other extractions of the scan
  and the agreement. Asking for JSON labelled everything "invoice"; scoring each label after the
  document (the direct way) 3/10, 5/10 with contextual calibration (Zhao et al. 2021). This way,
  one template alone: 7-10/12, never all five examples; the two templates summed over the first 24
  tokens: 12/12 (16 tokens 10/12, 64 or all 11/12). That default was the best of some 150 template,
  pair and length choices on 12 texts, so expect less on other documents. It costs two short
  passes per label.
- ``generate``: the answer is constrained to ``{"label": {"enum": labels}, "confidence": 0..1}``
  and validated, for chat providers that cannot score (remote servers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jsonschema import Draft202012Validator

from paperchain_sdk import DocumentUpdate, InputError, Result, TransientError

from .. import prompts
from ..providers import ChatProvider
from ..schemas import classify_schema, finite
from .asking import AIStep, ask_json

CHARS_PER_TOKEN = 8  # more than any text averages (prose ~4, OCR noise less): a cut that keeps the tokens scored


class ClassifyStep(AIStep):
    async def run(self, ctx, inputs) -> Result:
        document, text = await self.document_text(ctx, "ai.classify")
        labels = [label.strip() for label in inputs.labels]
        provider = self.provider(inputs.provider)
        text = prompts.clip(text, inputs.max_chars)
        if inputs.method == "score" and not provider.can_score:
            raise InputError(f"the model {inputs.provider} cannot score labels (method = \"score\").",
                             hint='use method = "generate" (or "auto") with this provider, or provider = "ai.local"')
        if inputs.method == "generate" or not provider.can_score:
            outputs = await self.generated(provider, text, labels, inputs)
        else:
            outputs = await scored(provider, text, labels, inputs.score_tokens, inputs.instructions)
        # Either way the answer fits the schema before a later step's `if` sees it.
        Draft202012Validator(classify_schema(labels)).validate({k: outputs[k] for k in ("label", "confidence")})
        label = outputs["label"]
        tag = {k.strip(): v for k, v in inputs.tags.items()}.get(label)
        return Result(outputs=outputs, document=DocumentUpdate(tags=(tag,)) if tag else None)

    async def generated(self, provider: ChatProvider, text: str, labels: list[str], inputs) -> dict:
        def confident(answer) -> None:
            finite(answer["confidence"], "confidence")

        answer, reply = await ask_json(provider, prompts.classify(text, labels, inputs.instructions),
                                       classify_schema(labels), where="ai.classify", max_tokens=inputs.max_tokens,
                                       repairs=inputs.repairs, check=confident,
                                       accept=classify_schema(labels, bounded=False))
        return {"label": answer["label"], "confidence": round(min(1.0, max(0.0, float(answer["confidence"]))), 4),
                "model": reply.model}


async def scored(provider: ChatProvider, text: str, labels: Sequence[str], tokens: int, instructions: str) -> dict:
    """The label under which the provider finds the opening of ``text`` likeliest, and the softmax
    of the labels' scores as its confidence."""
    opening = text[: tokens * CHARS_PER_TOKEN]  # enough text for ``tokens`` tokens, not the whole
    guides = ["", instructions] if instructions.strip() else [""]
    sums = []
    for label in labels:
        total = 0.0
        for guide in guides:
            (logprobs,) = await provider.score(prompts.classify_scoring(label, guide), [opening])
            total += sum(logprobs[:tokens])
        sums.append(total)
    label, confidence = choose(labels, sums)
    return {"label": label, "confidence": confidence, "model": provider.scoring_model()}


def choose(labels: Sequence[str], scores: Sequence[float]) -> tuple[str, float]:
    """The label of the highest score (the first of equal ones) and its softmax probability. A
    score of -inf (a label the model finds impossible) gets probability 0."""
    if not labels or len(labels) != len(scores) or any(math.isnan(s) or s == math.inf for s in scores):
        raise TransientError(f"ai.classify: the model's scores {list(scores)} for {len(labels)} labels cannot be compared.",
                             hint="retry the step; if it keeps failing, use method = \"generate\"")
    best = max(range(len(labels)), key=scores.__getitem__)
    if scores[best] == -math.inf:
        raise TransientError("ai.classify: the model found every label impossible.",
                             hint="retry the step; if it keeps failing, use method = \"generate\"")
    total = sum(math.exp(s - scores[best]) for s in scores)
    return labels[best], round(1.0 / total, 4)
