"""Testing workflows that use the AI steps without a language model: a scripted chat provider.

A test double for unit tests only (CI also runs the steps against a real model). Give it a
``script``: a function of the :class:`~paperchain_ai.providers.ChatRequest` returning the answer's
text (or a whole ChatAnswer), or a list of answers given in turn. Register it with the kernel
through the plugin object :func:`scripted_plugin` returns and name it as the steps' provider::

    from paperchain_ai.testing import scripted_plugin

    provider = scripted_plugin(lambda request: '{"label": "invoice", "confidence": 0.9}')
    harness = paperchain_kernel(paperchain_ai, provider,
                                config={"components": {"ai.classify": {"provider": provider.name}}})
    ...
    provider.requests  # every ChatRequest the steps sent, in order (to check prompts)

:func:`request_text` is what a request asks, all turns joined; :func:`fenced_document` the
document text a step's prompt fenced and :func:`fenced_passages` an ``ai.answer`` prompt's numbered
passages, for scripts that answer from what they were given.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from paperchain_sdk import ModelSpec, Prediction, hookimpl
from paperchain_sdk.contracts import Model

from .providers import ChatAnswer, ChatProvider, ChatRequest

Script = Callable[[ChatRequest], "str | ChatAnswer"] | Sequence["str | ChatAnswer"]
_FENCE = re.compile(r"<(document-[0-9a-f]{16})>\n(.*?)\n</\1>", re.DOTALL)
_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_WORD_PIECES = re.compile(r"\S+\s*|\s+")


def request_text(request: ChatRequest) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.messages)


def fenced_document(request: ChatRequest) -> str:
    """The document text a step fenced in its prompt ('' when there is none)."""
    match = _FENCE.search(request_text(request))
    return match.group(2) if match else ""


def fenced_passages(request: ChatRequest) -> dict[int, str]:
    """The numbered evidence an ``ai.answer`` prompt lists (``[1] …``, one to a line): number -> text."""
    return {int(m.group(1)): m.group(2) for m in _PASSAGE.finditer(request_text(request))}


class ScriptedProvider(ChatProvider, Model):
    """Answers from its script; records every request. Streams an answer word by word."""

    name = "test.scripted"
    script: Any = ()

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self.requests: list[ChatRequest] = []
        self._given = 0

    def _next(self, request: ChatRequest) -> ChatAnswer:
        if callable(self.script):
            reply = self.script(request)
        else:
            if self._given >= len(self.script):
                raise AssertionError(f"{self.name} was asked {self._given + 1} times; its script has "
                                     f"{len(self.script)} answers")
            reply = self.script[self._given]
        self._given += 1
        return reply if isinstance(reply, ChatAnswer) else ChatAnswer(
            text=str(reply), model=self.name, completion_tokens=len(_WORD_PIECES.findall(str(reply))))

    async def chat(self, request: ChatRequest) -> ChatAnswer:
        self.requests.append(request)
        return self._next(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        for piece in _WORD_PIECES.findall(self._next(request).text):
            yield piece

    async def predict(self, inputs) -> Prediction:
        """As a workflow step (``uses = "test.scripted"``): the answer to ``with.prompt``."""
        reply = await self.chat(ChatRequest(messages=[{"role": "user", "content": str(inputs.get("prompt", ""))}]))
        return Prediction(values={"text": reply.text}, model=reply.model)


class ScriptedPlugin:
    """A plugin offering one :class:`ScriptedProvider` model component, ``name``."""

    def __init__(self, script: Script, name: str = ScriptedProvider.name):
        self.name = name
        self.provider_class = type("Scripted", (ScriptedProvider,), {"name": name, "script": staticmethod(script) if callable(script) else tuple(script)})
        self._kernels: list[Any] = []

    @hookimpl
    def paperchain_models(self):
        return [ModelSpec(name=self.name, impl=self.provider_class, summary="A scripted chat provider (tests)",
                          task="chat")]

    @hookimpl
    def paperchain_startup(self, kernel):
        self._kernels.append(kernel)

    @property
    def requests(self) -> list[ChatRequest]:
        """Every request the steps sent to this provider, in order (the latest kernel's)."""
        if not self._kernels:
            return []
        return self._kernels[-1].component(self.name).requests


def scripted_plugin(script: Script, name: str = ScriptedProvider.name) -> ScriptedPlugin:
    return ScriptedPlugin(script, name)
