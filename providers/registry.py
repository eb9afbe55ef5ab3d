"""The explicit provider registry: provider type name -> factory, and building the configured
providers at start-up (inside the running event loop, so HTTP sessions can be created)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from providers.base import Provider
from specgate.core.config import ProviderConfig

ProviderFactory = Callable[[ProviderConfig], Provider]


def provider_types() -> dict[str, ProviderFactory]:
    """Every provider type the gateway knows. Adding a type = one module + one line here."""
    from providers import anthropic, bedrock, echo, openai, vertex

    return {
        "echo": echo.create,
        "anthropic": anthropic.create,
        "openai": openai.create,
        "bedrock": bedrock.create,
        "vertex": vertex.create,
        "azure_openai": openai.create_azure,
    }


def build_providers(
    configs: Sequence[ProviderConfig], types: Mapping[str, ProviderFactory] | None = None
) -> dict[str, Provider]:
    factories = provider_types() if types is None else types
    built: dict[str, Provider] = {}
    for config in configs:
        built[config.name] = factories[config.type](config)
    return built


async def close_providers(providers: Mapping[str, Provider]) -> None:
    for provider in providers.values():
        await provider.aclose()
