"""OpenAI-compatible Chat Completions provider (``type: openai``): one adapter for every
server that speaks ``/chat/completions`` (OpenAI, Ollama, vLLM, Groq, ...), by base URL."""

from __future__ import annotations

from providers.base import Provider
from specgate.core.config import ProviderConfig


def create(config: ProviderConfig) -> Provider:
    from providers.openai.adapter import OpenAIProvider

    return OpenAIProvider(config)
