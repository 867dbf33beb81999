"""``ai.openai-compatible``: any server that speaks OpenAI's chat-completions protocol (OpenAI,
vLLM, Ollama, LM Studio, llama.cpp's llama-server, llama-cpp-python's llama_cpp.server).

Chat whole or streamed (server-sent events), a JSON Schema as ``response_format`` in the dialect
the server understands, tools passed through, ``/v1/embeddings`` and ``/v1/models``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from paperchain_sdk import TransientError

from ..settings import OpenAICompatibleSettings
from .base import ChatAnswer, ChatProvider, ChatRequest, defuse_control_tokens, system_into_user
from .http import SNIPPET, ApiClient, ServerBusy, ServerRefused, clean
from .prompt_model import PromptModel

log = logging.getLogger(__name__)


def response_format(schema: Mapping[str, Any], dialect: str) -> dict[str, Any]:
    """The ``response_format`` that asks for JSON matching ``schema``, as ``dialect`` spells it."""
    if dialect == "llama-cpp":  # llama-cpp-python's server (its ChatCompletionRequestResponseFormat)
        return {"type": "json_object", "schema": dict(schema)}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": dict(schema), "strict": True}}


def refuses_response_format(exc: Exception) -> bool:
    """Whether a server's error is about the response_format we sent (llama_cpp.server answers a
    json_schema one with a 500 or 422 naming it)."""
    text = getattr(exc, "body", "") if isinstance(exc, (ServerRefused, ServerBusy)) else ""
    return "response_format" in text or "json_schema" in text


def answer_of(data: Any, host: str) -> ChatAnswer:
    """The ChatAnswer in a chat-completion JSON body."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise TransientError(f"the model server {host} answered JSON that is not a chat completion (no choices[0].message): "
                             f"{json.dumps(data)[:SNIPPET]}",
                             hint="check that base_url points at an OpenAI-compatible API") from None
    usage = data.get("usage") or {}
    return ChatAnswer(text=message.get("content") or "", model=str(data.get("model") or ""),
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      finish_reason=str(choice.get("finish_reason") or "stop"),
                      tool_calls=message.get("tool_calls") or ())


class OpenAICompatible(ChatProvider, PromptModel):
    name = "ai.openai-compatible"

    def __init__(self, settings: OpenAICompatibleSettings | None = None):
        super().__init__(settings or OpenAICompatibleSettings())
        # The dialect that worked ("auto" learns it on the first schema request).
        self.dialect: str | None = None if self.settings.schema_dialect == "auto" else self.settings.schema_dialect

    def client(self) -> ApiClient:
        return ApiClient(self.settings, self.name)

    def body(self, request: ChatRequest, *, stream: bool, dialect: str) -> dict[str, Any]:
        s = self.settings
        messages = defuse_control_tokens(system_into_user(request.messages) if s.system_in_user else request.messages)
        body: dict[str, Any] = {"messages": messages, "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "stream": stream}
        if s.model:
            body["model"] = s.model
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [dict(tool) for tool in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if request.schema is not None:
            body["response_format"] = response_format(request.schema, dialect)
        return body

    def probing(self, request: ChatRequest) -> bool:
        """Whether this request is how "auto" learns the dialect (a refusal then is not retried)."""
        return request.schema is not None and self.dialect is None

    async def with_dialect(self, request: ChatRequest, send):
        """``send(dialect)``; under "auto" with a schema, once more in llama-cpp's dialect when the
        server refuses OpenAI's response_format (then that dialect is kept)."""
        dialect = self.dialect or "openai"
        try:
            result = await send(dialect)
        except (ServerRefused, ServerBusy) as exc:
            if not self.probing(request) or not refuses_response_format(exc):
                raise
            log.info("%s: the server refused the json_schema response_format; using llama-cpp's dialect", self.name)
            dialect = "llama-cpp"
            result = await send(dialect)
        if request.schema is not None:
            self.dialect = dialect  # learnt (or configured)
        return result

    async def chat(self, request: ChatRequest) -> ChatAnswer:
        client = self.client()

        async def send(dialect: str):
            final = refuses_response_format if self.probing(request) else None
            return await client.json("/chat/completions", self.body(request, stream=False, dialect=dialect), final)

        return answer_of(await self.with_dialect(request, send), client.host)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        client = self.client()
        key = client.key()
        async with client.session() as session:
            async def send(dialect: str):
                body = self.body(request, stream=True, dialect=dialect)
                final = refuses_response_format if self.probing(request) else None
                return await client.retrying(lambda: client.guard(client.open(session, "/chat/completions", body, key)), final)

            response = await self.with_dialect(request, send)
            try:
                lines = response.content.__aiter__()
                while True:
                    try:
                        raw = await client.guard(lines.__anext__())
                    except StopAsyncIteration:
                        return
                    for piece in sse_pieces(raw, client.host, key):
                        if piece is None:
                            return
                        yield piece
            finally:
                response.release()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        client = self.client()
        model = self.settings.embedding_model or self.settings.model
        body: dict[str, Any] = {"input": list(texts), **({"model": model} if model else {})}
        data = await client.json("/embeddings", body)
        try:
            rows = sorted(data["data"], key=lambda row: row["index"])
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError):
            raise TransientError(f"the model server {client.host} answered /embeddings with JSON that is not a list "
                                 "of embeddings.", hint="check embedding_model and that the server serves embeddings") from None
        if len(vectors) != len(texts):
            raise TransientError(f"the model server {client.host} returned {len(vectors)} embeddings for {len(texts)} texts.")
        return vectors

    async def models(self) -> list[str]:
        """The model names the server offers (``GET /v1/models``)."""
        client = self.client()
        data = await client.json("/models")
        return [str(row["id"]) for row in (data.get("data") or []) if isinstance(row, dict) and "id" in row]


def sse_pieces(raw: bytes, host: str, key: str):
    """The text pieces in one server-sent-event line; None when the stream says it is done."""
    line = raw.decode("utf-8", errors="replace").strip()
    if not line.startswith("data:"):
        return  # a comment, an event name, a blank separator
    data = line[5:].strip()
    if data == "[DONE]":
        yield None
        return
    try:
        chunk = json.loads(data)
    except ValueError:
        raise TransientError(f"the model server {host} streamed an event that is not JSON: {clean(data, key)[:SNIPPET]!r}") from None
    if isinstance(chunk, dict) and chunk.get("error"):
        raise TransientError(f"the model server {host} failed while streaming: {clean(json.dumps(chunk['error']), key)[:SNIPPET]}")
    for choice in (chunk.get("choices") or []) if isinstance(chunk, dict) else []:
        text = (choice.get("delta") or {}).get("content")
        if text:
            yield text
