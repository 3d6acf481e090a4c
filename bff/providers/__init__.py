"""Model providers: any OpenAI-compatible endpoint, Anthropic, and the offline assistant."""
from __future__ import annotations

from payment_core.spec import LoadedApp
from bff.providers.base import (
    ModelEvent,
    ModelRequest,
    ModelTool,
    Provider,
    ProviderError,
    TextDelta,
    ToolCallReady,
    ToolCallStarted,
)
from bff.settings import ChatSettings

__all__ = ["ModelEvent", "ModelRequest", "ModelTool", "Provider", "ProviderError", "TextDelta", "ToolCallReady",
           "ToolCallStarted", "build_provider"]


def build_provider(chat: ChatSettings, app: LoadedApp) -> Provider:
    """The provider the settings name (see `ChatSettings.provider`)."""
    if chat.provider == "openai":
        from bff.providers.openai import OpenAIProvider

        return OpenAIProvider(api_key=chat.openai_api_key, base_url=chat.openai_base_url, model=chat.openai_model,
                              timeout=chat.chat_provider_timeout_seconds, max_retries=chat.chat_provider_retries)
    if chat.provider == "anthropic":
        from bff.providers.anthropic import AnthropicProvider

        return AnthropicProvider(api_key=chat.anthropic_api_key, base_url=chat.anthropic_base_url,
                                 model=chat.anthropic_model, max_tokens=chat.chat_max_output_tokens,
                                 timeout=chat.chat_provider_timeout_seconds, max_retries=chat.chat_provider_retries)
    from bff.providers.offline import OfflineAssistant

    return OfflineAssistant(app)
