"""What every language-model provider offers the AI steps: chat, streamed or whole, optionally
constrained to a JSON Schema.

A provider is a component of the model kind (``ai.local``, ``ai.openai-compatible``); the steps
(``ai.generate``, ``ai.classify`` …) name one in their settings and talk to it only through
:class:`ChatProvider`. Messages are plain dicts in the OpenAI shape (``{"role", "content"}``), the
one shape every server in the field speaks.

Errors: a provider raises ``paperchain_sdk.InputError`` for what the caller must fix (a bad model
name, a refused host) and ``paperchain_sdk.TransientError`` for what a retry can help (a timeout,
429, 5xx, a connection reset), so the engine's retry policy does the right thing.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs

Message = Mapping[str, Any]  # {"role": "system" | "user" | "assistant", "content": str}


@attrs.frozen(kw_only=True)
class ChatRequest:
    """messages:    the conversation so far, oldest first.
    schema:      a JSON Schema the answer must satisfy (the provider constrains decoding to it where
                 it can; the caller validates the parsed answer either way).
    max_tokens:  an upper bound on the answer's length, in tokens.
    temperature: 0 for the most likely answer (classification, extraction); higher for prose.
    seed:        a fixed seed makes sampling repeatable where the backend supports it."""

    messages: tuple[Message, ...] = attrs.field(converter=tuple)
    schema: Mapping[str, Any] | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    # Function tools in the OpenAI shape, passed through to servers that take them; tool_choice
    # ("auto", "none", "required" or {"type": "function", "function": {"name": …}}) likewise.
    tools: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=tuple)
    tool_choice: Any = None


@attrs.frozen(kw_only=True)
class ChatAnswer:
    """text:          the whole answer (JSON text when the request had a schema).
    model:         the model that answered, as the backend names it.
    prompt_tokens, completion_tokens: token counts, as the backend reports them (0 when it does not).
    finish_reason: ``stop`` (done), ``length`` (cut at max_tokens) or what the backend says."""

    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    tool_calls: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=tuple)  # as the server sent them


class ChatProvider(abc.ABC):
    """A language model the AI steps can ask."""

    name: str = ""

    @abc.abstractmethod
    async def chat(self, request: ChatRequest) -> ChatAnswer:
        """The whole answer to ``request``."""

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """The answer to ``request`` as it is generated, piece by piece (an async generator)."""

    # Whether score() works: the backend gives the model's own log-probabilities of a given text.
    can_score: bool = False

    async def score(self, prompt: str, continuations: Sequence[str]) -> list[list[float]]:
        """How likely the model finds each of ``continuations`` right after ``prompt`` (plain text,
        no chat template): the natural log-probability of each of its tokens, in order. Lets a step
        choose among fixed answers (classification's labels) by comparing them, instead of asking
        a model to write one; for providers whose ``can_score`` is true."""
        raise NotImplementedError(f"the {self.name} provider cannot score texts")

    def scoring_model(self) -> str:
        """The name of the model that score() asks, for the steps' outputs."""
        return self.name

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``, for providers whose backend has an embeddings endpoint."""
        raise NotImplementedError(f"the {self.name} provider has no embeddings")

    async def close(self) -> None:  # noqa: B027 - optional: most providers hold nothing to release
        """Release connections and memory."""


def system_into_user(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation with its system messages folded into the first user turn, for chat
    formats that drop system messages (Gemma's): the instructions must still reach the model."""
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for message in rest:
        if message.get("role") == "user":
            message["content"] = f"{system}\n\n{message.get('content') or ''}"
            return rest
    return [{"role": "user", "content": system}, *rest]


# Chat templates' control tokens written as text: Gemma's (<start_of_turn>, <end_of_turn>, <eos> …)
# and the <|…|> family (ChatML's <|im_start|>, Llama 3's <|eot_id|> …). Servers render the template
# and tokenize the whole prompt with special tokens on, so a document spelling one would open a turn
# of its own. A zero-width space after "<" keeps the text readable and makes it plain text.
_CONTROL_TOKEN = re.compile(r"<(?=(?:/?(?:start_of_turn|end_of_turn|bos|eos|pad|unk|mask|start_of_image"
                            r"|end_of_image|unused\d+)>|\|[A-Za-z0-9_]+\|>))")


def defuse(text: str) -> str:
    return _CONTROL_TOKEN.sub("<\u200b", text)


def defuse_control_tokens(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation with control tokens in its text made plain text (see ``defuse``)."""
    return [{**m, "content": defuse(m["content"])} if isinstance(m.get("content"), str) else dict(m) for m in messages]
