"""OpenAI-compatible Chat Completions provider (``type: openai``): one adapter for every
server that speaks ``/chat/completions`` (OpenAI, Ollama, vLLM, Groq, ...), by base URL; and
``type: azure_openai``, the same adapter with Azure's deployment URLs and credentials."""

from __future__ import annotations

from providers.base import Provider
from specgate.core.config import ProviderConfig


def create(config: ProviderConfig) -> Provider:
    from providers.openai.adapter import OpenAIProvider

    return OpenAIProvider(config)


def create_azure(config: ProviderConfig) -> Provider:
    from providers.openai.adapter import OpenAIProvider
    from providers.openai.azure import AzureEndpoint

    return OpenAIProvider(config, AzureEndpoint(config))
