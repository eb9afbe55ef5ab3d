"""The official Python SDK, unchanged, through a real gateway to the fake Azure OpenAI."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.fakes.azure_openai_upstream import CLIENT_ID, CLIENT_SECRET, TENANT, FakeAzureOpenAI, azure_error
from tests.providers.sdk_checks import TOOL, check_error, gateway_config, sdk


async def test_sdk_create_stream_tools_and_errors(azure: FakeAzureOpenAI, gateway_factory: Any) -> None:
    provider = {
        "type": "azure_openai",
        "base_url": azure.url,
        "api_version": "2024-10-21",
        "entra": {
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "authority_url": azure.url,
        },
        "model_ids": {"fake-tools": "fake-tools"},
    }
    cfg = gateway_config(provider, "gpt-4o", "fake-text")
    cfg["models"].append({"match": "gpt-4o-tools", "provider": "cloud", "upstream_model": "fake-tools"})
    gw = gateway_factory(cfg)
    hi: Any = [{"role": "user", "content": "Hi"}]
    async with sdk(gw.url) as client:
        message = await client.messages.create(model="gpt-4o", max_tokens=64, messages=hi)
        assert message.content[0].type == "text" and message.content[0].text == "Hello world"
        async with client.messages.stream(model="gpt-4o", max_tokens=64, messages=hi) as stream:
            assert "".join([t async for t in stream.text_stream]) == "Hello world"
        called = await client.messages.create(
            model="gpt-4o-tools", max_tokens=64, messages=hi, tools=[TOOL, {**TOOL, "name": "get_time"}]
        )
        assert [b.type for b in called.content] == ["tool_use", "tool_use"] and called.stop_reason == "tool_use"
    assert azure.token_requests == 1
    azure.script(azure_error(400, "BadRequest", "max_tokens is too large"))
    await check_error(gw.url, "gpt-4o", anthropic.BadRequestError, "max_tokens is too large")
