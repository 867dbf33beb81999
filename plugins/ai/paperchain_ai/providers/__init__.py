"""Language-model providers: components of the model kind that the AI steps ask through
:class:`~paperchain_ai.providers.base.ChatProvider`."""

from __future__ import annotations

from paperchain_sdk import ConfigError

from .base import ChatAnswer, ChatProvider, ChatRequest

__all__ = ["ChatAnswer", "ChatProvider", "ChatRequest", "provider_for"]


def provider_for(kernel, name: str) -> ChatProvider:
    """The installed model component ``name`` (``ai.local``, ``ai.openai-compatible`` or a third
    party's), checked to be a chat provider."""
    component = kernel.component(name)
    if not isinstance(component, ChatProvider):
        raise ConfigError(f"the model {name!r} is not a chat provider, so AI steps cannot ask it.",
                          hint='set provider = "ai.local" or "ai.openai-compatible" (or another chat provider)')
    return component
