"""The official SDK through a real gateway to a cloud provider's fake: one set of checks for
Bedrock, Vertex AI and Azure OpenAI (only the gateway's config differs)."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.handlers.upstreams import CLIENT_KEY, FAST, sdk

Json = dict[str, Any]
TOOL: Json = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def gateway_config(provider: Json, model: str, upstream_model: str) -> Json:
    """A gateway with one provider (FAST timeouts) serving ``model`` as ``upstream_model``."""
    return {
        "auth": {"api_keys": [CLIENT_KEY]},
        "providers": [{"name": "cloud", **FAST, **provider}],
        "models": [{"match": model, "provider": "cloud", "upstream_model": upstream_model}],
    }


async def check_create_stream_and_tools(gateway_url: str, model: str, *, text: str, tool_input: Json) -> None:
    async with sdk(gateway_url) as client:
        await _create_stream_and_tools(client, model, text=text, tool_input=tool_input)


async def _create_stream_and_tools(
    client: anthropic.AsyncAnthropic, model: str, *, text: str, tool_input: Json
) -> None:
    hi: list[Any] = [{"role": "user", "content": "Hi"}]
    message = await client.messages.create(model=model, max_tokens=64, messages=hi)
    assert message.model == model and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text == text
    assert message._request_id is not None

    async with client.messages.stream(model=model, max_tokens=64, messages=hi) as stream:
        streamed = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert streamed == text and final.content[0].type == "text" and final.stop_reason == "end_turn"

    tools: Any = [TOOL]
    called = await client.messages.create(
        model=model, max_tokens=64, messages=hi, tools=tools, tool_choice={"type": "tool", "name": "get_weather"}
    )
    assert called.stop_reason == "tool_use"
    block = called.content[-1]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == tool_input
    async with client.messages.stream(
        model=model, max_tokens=64, messages=hi, tools=tools, tool_choice={"type": "tool", "name": "get_weather"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[-1].type == "tool_use" and final.content[-1].input == tool_input

    follow_up: Any = [
        *hi,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": block.id, "name": "get_weather", "input": tool_input}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "Sunny"}]},
    ]
    answered = await client.messages.create(model=model, max_tokens=64, messages=follow_up, tools=tools)
    assert answered.content[0].type == "text" and "Sunny" in answered.content[0].text


async def check_error(gateway_url: str, model: str, error: type[anthropic.APIStatusError], message: str) -> None:
    async with sdk(gateway_url) as client:
        try:
            await client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
        except error as exc:
            assert exc.body is not None and message in str(exc.body)
            return
    raise AssertionError(f"expected {error.__name__}")
