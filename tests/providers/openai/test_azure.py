"""``type: azure_openai``: the OpenAI adapter against a fake Azure OpenAI resource on 127.0.0.1
(deployment URLs, ``api-version``, ``api-key`` or Entra ID bearer tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import Provider
from providers.openai import create_azure
from specgate.core.config import CloudConfig, EntraConfig
from specgate.core.errors import UpstreamError
from tests.fakes.azure_openai_upstream import CLIENT_ID, CLIENT_SECRET, TENANT, FakeAzureOpenAI, azure_error
from tests.providers.grammar import check_stream
from tests.providers.support import collect, config, ctx

Json = dict[str, Any]
REQUEST: Json = {"model": "gpt-client", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
TOOLS: Json = {
    "tools": [
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"name": "get_time", "input_schema": {"type": "object"}},
    ]
}


def azure_config(server: FakeAzureOpenAI, *, keys: tuple[str, ...] = ("azure-key-1",), **cloud: Any) -> Any:
    fields = {"api_version": "2024-10-21", "model_ids": {"gpt-4o": "fake-text"}, **cloud}
    return config(server.url, "azure_openai", api_keys=keys, cloud=CloudConfig(**fields))


def entra(secret: str = CLIENT_SECRET, url: str = "") -> EntraConfig:
    return EntraConfig(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=secret, authority_url=url)


@pytest.fixture
async def provider(azure: FakeAzureOpenAI) -> AsyncIterator[Provider]:
    made = create_azure(azure_config(azure))
    yield made
    await made.aclose()


async def test_create_on_the_deployment_url_with_api_key(azure: FakeAzureOpenAI, provider: Provider) -> None:
    message = await provider.create_message(REQUEST, "gpt-4o", ctx())
    seen = azure.requests[0]
    assert seen.path == "/openai/deployments/fake-text/chat/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == "azure-key-1" and "authorization" not in seen.headers
    assert provider.type == "azure_openai"
    assert message["model"] == "gpt-client"
    assert message["content"][0]["text"] == "Hello world"


async def test_stream_and_tools(azure: FakeAzureOpenAI, provider: Provider) -> None:
    streamed = check_stream(await collect(provider.stream_message(REQUEST, "gpt-4o", ctx()), []))
    assert streamed["content"][0]["text"] == "Hello world"
    called = await provider.create_message({**REQUEST, **TOOLS}, "fake-tools", ctx())
    assert [b["name"] for b in called["content"]] == ["get_weather", "get_time"]
    assert called["stop_reason"] == "tool_use"
    events = await collect(provider.stream_message({**REQUEST, **TOOLS}, "fake-tools", ctx()), [])
    assert [b["input"] for b in check_stream(events)["content"]] == [{"location": "Paris"}, {"tz": "CET"}]
    assert azure.requests[-1].path.startswith("/openai/deployments/fake-tools/chat/completions?")


async def test_errors_and_retries(azure: FakeAzureOpenAI, provider: Provider) -> None:
    azure.script(azure_error(400, "BadRequest", "max_tokens is too large"))
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, "gpt-4o", ctx())
    assert (info.value.status_code, info.value.message) == (400, "max_tokens is too large")
    azure.script(
        azure_error(429, "429", "Requests to the ChatCompletions_Create Operation have exceeded the rate limit")
    )
    assert (await provider.create_message(REQUEST, "gpt-4o", ctx()))["type"] == "message"
    assert len(azure.requests) == 3


async def test_an_unknown_api_version_is_a_502_naming_the_provider(azure: FakeAzureOpenAI) -> None:
    made = create_azure(azure_config(azure, api_version="1999-01-01"))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "gpt-4o", ctx())
    finally:
        await made.aclose()
    assert info.value.status_code == 502 and "upstream 'up'" in info.value.message


async def test_a_refused_key_cools_down_and_the_next_one_serves(azure: FakeAzureOpenAI) -> None:
    made = create_azure(azure_config(azure, keys=("revoked-key", "azure-key-2")))
    try:
        await made.create_message(REQUEST, "gpt-4o", ctx())
        await made.create_message(REQUEST, "gpt-4o", ctx())
    finally:
        await made.aclose()
    assert [r.headers["api-key"] for r in azure.requests] == ["revoked-key", "azure-key-2", "azure-key-2"]


@pytest.mark.parametrize(("lifetime_s", "token_requests"), [(3600, 1), (200, 3)])
async def test_entra_id_tokens_are_reused_then_refreshed(
    azure: FakeAzureOpenAI, lifetime_s: int, token_requests: int
) -> None:
    """A token is refreshed five minutes before it expires: one living 200 s is fetched anew each call."""
    azure.token_lifetime_s = lifetime_s
    made = create_azure(azure_config(azure, keys=(), entra=entra(url=azure.url)))
    try:
        for _ in range(3):
            await made.create_message(REQUEST, "gpt-4o", ctx())
    finally:
        await made.aclose()
    assert azure.token_requests == token_requests
    bearers = [r.headers["authorization"] for r in azure.requests]
    assert len(set(bearers)) == token_requests and all(b.startswith("Bearer eyJ0eXAi.fake-entra-") for b in bearers)
    assert all("api-key" not in r.headers for r in azure.requests)


async def test_a_refused_entra_secret_is_a_502(azure: FakeAzureOpenAI) -> None:
    made = create_azure(azure_config(azure, keys=(), entra=entra(secret="wrong", url=azure.url)))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "gpt-4o", ctx())
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.message) == (502, "upstream 'up' could not obtain an Entra ID token")
    assert azure.requests == []
