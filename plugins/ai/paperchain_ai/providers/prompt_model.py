"""A chat provider as a plain model step: ``uses = "ai.local"`` with ``with = {prompt = "…"}``
answers the prompt, so a workflow can ask a model without the AI steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from paperchain_sdk import InputError, Prediction
from paperchain_sdk.contracts import Model

from .base import ChatRequest

STEP_OPTIONS = ("prompt", "max_tokens", "temperature")  # what a step may change; the connection is not one


class PromptModel(Model):
    """Mix into a :class:`~paperchain_ai.providers.base.ChatProvider`: ``predict`` answers ``inputs.prompt``.
    Only prompt, max_tokens and temperature come from the step; the connection is the deployment's."""

    name: str = ""

    async def predict(self, inputs: Any) -> Prediction:
        options = self.settings if inputs is None else inputs
        if isinstance(inputs, Mapping):  # a test harness passes the step's values as they were written
            options = attrs.evolve(self.settings, **{k: v for k, v in inputs.items() if k in STEP_OPTIONS})
        prompt = getattr(options, "prompt", "") or ""
        if not prompt.strip():
            raise InputError(f"{self.name} needs a prompt to answer.", hint='give the step with = {prompt = "…"}')
        request = ChatRequest(messages=[{"role": "user", "content": prompt}], max_tokens=options.max_tokens,
                              temperature=options.temperature)
        answer = await self.chat(request)  # type: ignore[attr-defined]
        return Prediction(label=answer.text, model=answer.model, values={
            "text": answer.text, "finish_reason": answer.finish_reason,
            "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens})
