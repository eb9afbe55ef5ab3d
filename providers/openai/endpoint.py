"""Where and how the OpenAI adapter sends ``/chat/completions``: the one thing that differs
between an OpenAI-compatible server (``{base_url}/chat/completions``, ``Authorization: Bearer``)
and Azure OpenAI (``providers.openai.azure``). The adapter and the translation are shared."""

from __future__ import annotations

from typing import Protocol


class ChatEndpoint(Protocol):
    def url(self, upstream_model: str) -> str:
        """The chat completions URL for a model name."""
        ...

    def key_headers(self, key: str) -> dict[str, str]:
        """The headers that carry one of the provider's ``api_keys``."""
        ...

    async def token_headers(self, request_id: str) -> dict[str, str]:
        """Headers from a token source (refreshed as needed), or none."""
        ...

    async def aclose(self) -> None: ...


class OpenAIEndpoint:
    """Any OpenAI-compatible server: ``{base_url}/chat/completions`` with a bearer key."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"

    def url(self, upstream_model: str) -> str:
        return self._url

    def key_headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    async def token_headers(self, request_id: str) -> dict[str, str]:
        return {}

    async def aclose(self) -> None:
        return None
