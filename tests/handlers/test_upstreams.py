"""The official SDK through the gateway to an Anthropic-protocol upstream and to an
OpenAI-compatible one: the same client-visible results where the translation allows.

Differences that remain, by design (see providers/openai/translate/__init__.py):
* ``id``: ``msg_`` + the upstream completion id for OpenAI, the upstream's own id for Anthropic;
* ``stop_sequence``: OpenAI says only ``finish_reason: stop``, so a matched stop sequence is
  ``end_turn`` unless the server names the string (vLLM's ``stop_reason``);
* thinking blocks from OpenAI ``reasoning_content`` carry an empty ``signature``;
* fields the Anthropic upstream sends that OpenAI has no equivalent for (``usage.inference_geo``,
  unknown new fields) exist only on the Anthropic route.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import Reply
from tests.handlers.upstreams import (
    CLIENT_KEY,
    TOOL_CALLS,
    TOOLS,
    USAGE,
    config,
    json_reply,
    leaked,
    message,
    sdk,
    sse_reply,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def summary(msg: Any) -> dict[str, Any]:
    usage = msg.usage
    return {
        "content": [b.model_dump(exclude_none=True) for b in msg.content],
        "stop_reason": msg.stop_reason,
        "stop_sequence": msg.stop_sequence,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
        },
    }


async def create_and_stream(client: anthropic.AsyncAnthropic, **params: Any) -> tuple[Any, Any, Any, Any]:
    """(message, its headers, streamed final message, stream headers)."""
    raw = await client.messages.with_raw_response.create(**params)
    msg = await raw.parse()
    async with client.messages.stream(**params) as stream:
        final = await stream.get_final_message()
        stream_headers = stream.response.headers
    return msg, raw.headers, final, stream_headers


def check_served(headers: Any, provider: str, upstream_model: str) -> None:
    assert headers["x-specgate-provider"] == provider
    assert headers["x-specgate-upstream-model"] == upstream_model
    assert headers["x-specgate-upstream-request-id"]
    assert (
        headers["request-id"].startswith("req_") and headers["request-id"] != headers["x-specgate-upstream-request-id"]
    )


async def test_text_same_from_both_providers(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    upstream = message([{"type": "text", "text": "Hello world"}], "end_turn")
    anthropic_upstream.script(json_reply(upstream), sse_reply(upstream))
    params: dict[str, Any] = {"max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    async with sdk(gw.url) as client:
        a_msg, a_headers, a_final, a_stream_headers = await create_and_stream(client, model="ant-model", **params)
        o_msg, o_headers, o_final, o_stream_headers = await create_and_stream(client, model="oai-text", **params)

    assert a_msg.model == a_final.model == "ant-model"
    assert o_msg.model == o_final.model == "oai-text"
    check_served(a_headers, "ant", "claude-upstream")
    check_served(a_stream_headers, "ant", "claude-upstream")
    assert a_headers["x-specgate-upstream-request-id"] == "req_up_json"
    assert a_stream_headers["x-specgate-upstream-request-id"] == "req_up_sse"
    check_served(o_headers, "oai", "fake-text")
    check_served(o_stream_headers, "oai", "fake-text")
    assert o_headers["x-specgate-upstream-request-id"].startswith("req_chatcmpl-fake")

    expected = {
        "content": [{"type": "text", "text": "Hello world"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
    }
    assert summary(a_msg) == summary(a_final) == expected
    assert summary(o_msg) == summary(o_final) == expected  # OpenAI usage 30 prompt - 10 cached -> 20

    # upstream calls used the providers' keys, never the client's
    assert [r.headers["x-api-key"] for r in anthropic_upstream.requests] == ["ant-key-1"] * 2
    assert [r.headers["authorization"] for r in openai_upstream.requests] == ["Bearer oai-key-1"] * 2
    for recorded in anthropic_upstream.requests + openai_upstream.requests:
        assert leaked(recorded.headers) == [], recorded.headers
        assert CLIENT_KEY not in str(recorded.body)


async def test_parallel_tool_calls_with_fragmented_arguments(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    upstream = message(TOOL_CALLS, "tool_use")
    anthropic_upstream.script(json_reply(upstream), sse_reply(upstream, piece=4))
    params: dict[str, Any] = {
        "max_tokens": 100,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "Weather and time in Paris?"}],
    }
    async with sdk(gw.url) as client:
        a_msg, _, a_final, _ = await create_and_stream(client, model="ant-model", **params)
        o_msg, _, o_final, _ = await create_and_stream(client, model="oai-tools", **params)
        # the deltas the client saw really were fragments of the arguments
        async with client.messages.stream(model="oai-tools", **params) as stream:
            fragments = [e.delta.partial_json async for e in stream if e.type == "content_block_delta"]
    assert len(fragments) >= 4 and "".join(fragments) == '{"location": "Paris"}{"tz": "CET"}'

    expected = {"content": TOOL_CALLS, "stop_reason": "tool_use", "stop_sequence": None, "usage": USAGE}
    for msg in (a_msg, a_final, o_msg, o_final):
        assert summary(msg) == expected
    sent = openai_upstream.requests[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]


async def test_images_system_blocks_and_stop_sequences(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    stopped = message([{"type": "text", "text": "Hello world"}], "stop_sequence", "END")
    anthropic_upstream.script(json_reply(stopped), sse_reply(stopped))
    # a vLLM-style server names the matched stop string in the choice's stop_reason
    vllm = {
        "id": "chatcmpl-v1",
        "object": "chat.completion",
        "model": "fake-text",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello world"},
                "finish_reason": "stop",
                "stop_reason": "END",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 10}},
    }
    openai_upstream.script(Reply(200, vllm))
    content = [
        {"type": "text", "text": "Describe both."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    params: dict[str, Any] = {
        "max_tokens": 50,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "stop_sequences": ["END"],
        "messages": [{"role": "user", "content": content}],
    }
    async with sdk(gw.url) as client:
        a_msg, _, a_final, _ = await create_and_stream(client, model="ant-model", **params)
        o_named = await client.messages.create(model="oai-text", **params)  # the vLLM answer
        o_msg, _, o_final, _ = await create_and_stream(client, model="oai-text", **params)

    for msg in (a_msg, a_final, o_named):
        assert summary(msg)["stop_reason"] == "stop_sequence" and msg.stop_sequence == "END"
        assert summary(msg)["content"] == [{"type": "text", "text": "Hello world"}]
    for msg in (o_msg, o_final):  # plain OpenAI does not say which stop matched
        assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)

    # Anthropic upstream: the request relayed as sent, only the model renamed
    for recorded in anthropic_upstream.requests:
        body = recorded.body
        assert body["model"] == "claude-upstream"
        assert body["system"] == params["system"] and body["stop_sequences"] == ["END"]
        assert body["messages"] == params["messages"]
    # OpenAI upstream: system blocks joined, images as image_url parts, stop sequences as stop
    for recorded in openai_upstream.requests:
        body = recorded.body
        assert body["model"] == "fake-text" and body["stop"] == ["END"] and body["max_tokens"] == 50
        assert body["messages"][0] == {"role": "system", "content": "Be brief.\n\nBe kind."}
        assert body["messages"][1] == {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe both."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }


async def test_reasoning_and_unknown_fields_are_where_the_protocol_allows(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    params: dict[str, Any] = {"max_tokens": 50, "messages": [{"role": "user", "content": "Think"}]}
    async with sdk(gw.url) as client:
        o_msg, _, o_final, _ = await create_and_stream(client, model="oai-reasoning", **params)
        a_msg = await client.messages.create(model="ant-model", **params)  # the fake's default answer
    for msg in (o_msg, o_final):
        assert summary(msg)["content"] == [
            {"type": "thinking", "thinking": "Let me think.", "signature": ""},
            {"type": "text", "text": "Hello world"},
        ]
    # the Anthropic route relays fields the gateway does not know; nothing like them on OpenAI
    assert a_msg.model_dump()["brand_new_field"] == {"kept": True}
    assert a_msg.usage.model_dump()["inference_geo"] == "global"


async def test_sync_client_through_both_providers(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    """``anthropic.Anthropic`` (sync), run in a thread so the fakes' event loop keeps serving."""
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))

    def call(model: str) -> tuple[str, str, str]:
        client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=CLIENT_KEY, max_retries=0)
        with client:
            msg = client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "Hi"}])
            with client.messages.stream(
                model=model, max_tokens=20, messages=[{"role": "user", "content": "Hi"}]
            ) as stream:
                text = "".join(stream.text_stream)
        assert msg.model == model
        return msg.content[0].text, text, str(msg.stop_reason)  # type: ignore[union-attr]

    assert await asyncio.to_thread(call, "ant-model") == ("Hello, world!", "Hello, world!", "end_turn")
    assert await asyncio.to_thread(call, "oai-text") == ("Hello world", "Hello world", "end_turn")
