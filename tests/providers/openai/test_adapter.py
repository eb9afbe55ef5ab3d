"""The OpenAI-compatible adapter against a real fake /chat/completions server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from providers.base import Provider
from providers.openai import create
from providers.openai.adapter import OpenAIProvider
from providers.shapes import DELTA_USAGE_KEYS
from specgate.core.errors import ApiError, UpstreamError
from specgate.core.types import SSEEvent
from tests.fakes.openai_upstream import USAGE, FakeOpenAI, openai_error
from tests.fakes.server import Cut, Reply, Reset
from tests.providers.grammar import check_stream
from tests.providers.openai.expected import text, thinking, tool_use
from tests.providers.support import collect, config, ctx

Json = dict[str, Any]

REQUEST: Json = {
    "model": "client-model",
    "max_tokens": 32,
    "system": "be brief",
    "messages": [{"role": "user", "content": "hi"}],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
}

USAGE_OUT = {  # a complete Usage: OpenAI has no equivalent of the null ones
    "input_tokens": 20,
    "output_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 10,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
    "service_tier": None,
    "inference_geo": None,
    "output_tokens_details": None,
    "speed": None,
}
TOOL_USES = [tool_use("call_a", "get_weather", {"location": "Paris"}), tool_use("call_b", "get_time", {"tz": "CET"})]


async def make(server: FakeOpenAI, **overrides: Any) -> Provider:
    return create(config(server.url + "/v1", "openai", **overrides))


@pytest.fixture
async def provider(openai_upstream: FakeOpenAI) -> Any:
    made = await make(openai_upstream)
    yield made
    await made.aclose()


def test_protocol(provider: Provider) -> None:
    assert isinstance(provider, Provider) and isinstance(provider, OpenAIProvider)
    assert provider.type == "openai"


def test_base_url_is_required() -> None:
    with pytest.raises(ValueError, match="base_url"):
        create(config("", "openai", base_url=None))


async def test_create_message(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    message = await provider.create_message(REQUEST, "fake-text", ctx())
    seen = openai_upstream.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer key-1"
    assert "x-api-key" not in seen.headers
    assert seen.body["model"] == "fake-text"
    assert seen.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert "stream" not in seen.body
    assert message["model"] == "client-model"
    assert message["id"] == "msg_chatcmpl-fake1"
    assert message["content"] == [text("Hello world")]
    assert message["usage"] == USAGE_OUT
    assert (message["stop_details"], message["container"], message["diagnostics"]) == (None, None, None)


async def test_create_message_with_tool_calls(provider: Provider) -> None:
    message = await provider.create_message(REQUEST, "fake-tools", ctx())
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == TOOL_USES


async def test_stream_fragmented_parallel_tool_calls(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    events = await collect(provider.stream_message(REQUEST, "fake-tools", ctx()), [])
    message = check_stream(events)
    body = openai_upstream.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert message["content"] == TOOL_USES
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == USAGE_OUT
    delta_usage = events[-2].data["usage"]  # MessageDeltaUsage: no service_tier, cache_creation, geo, speed
    assert delta_usage == {k: USAGE_OUT[k] for k in DELTA_USAGE_KEYS}
    assert events[0].data["message"]["usage"]["input_tokens"] > 0  # an estimate, not zero


async def test_stream_reasoning(provider: Provider) -> None:
    message = check_stream(await collect(provider.stream_message(REQUEST, "fake-reasoning", ctx()), []))
    assert message["content"] == [
        thinking("Let me think."),
        text("Hello world"),
    ]
    assert message["usage"]["output_tokens"] == USAGE["completion_tokens"]


@pytest.mark.parametrize(
    ("status", "client_status", "error_type", "message", "relayed"),
    [
        (400, 400, "invalid_request_error", "upstream says no", {}),
        (422, 400, "invalid_request_error", "upstream says no", {}),
        (401, 502, "api_error", "upstream 'up' refused the gateway's credentials (HTTP 401)", {}),
        (404, 502, "api_error", "upstream 'up' does not know the configured model or resource (HTTP 404)", {}),
        (429, 429, "rate_limit_error", "upstream says no", {"retry-after": "7"}),
    ],
)
async def test_error_mapping(
    openai_upstream: FakeOpenAI,
    status: int,
    client_status: int,
    error_type: str,
    message: str,
    relayed: dict[str, str],
) -> None:
    openai_upstream.script(openai_error(status, "upstream says no", **{"retry-after": "7"}))
    made = await make(openai_upstream, max_retries=0)
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "fake-text", ctx())
    finally:
        await made.aclose()
    err = info.value
    assert (err.status_code, err.type, err.message) == (client_status, error_type, message)
    assert err.upstream_request_id == "req_oai_err"
    assert err.headers == relayed


async def test_retries_then_succeeds(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    openai_upstream.script(openai_error(500, "boom", "server_error"), Reset())
    message = await provider.create_message(REQUEST, "fake-text", ctx())
    assert message["content"][0]["text"] == "Hello world"
    assert len(openai_upstream.requests) == 3


async def test_bearer_keys_rotate(openai_upstream: FakeOpenAI) -> None:
    made = await make(openai_upstream, api_keys=("k1", "k2"))
    try:
        for _ in range(3):
            await made.create_message(REQUEST, "fake-text", ctx())
    finally:
        await made.aclose()
    assert [r.headers["authorization"] for r in openai_upstream.requests] == [
        "Bearer k1",
        "Bearer k2",
        "Bearer k1",
    ]


async def test_no_keys_no_authorization(openai_upstream: FakeOpenAI) -> None:
    made = await make(openai_upstream, api_keys=())
    try:
        await made.create_message(REQUEST, "fake-text", ctx(extra={"authorization": "Bearer client"}))
    finally:
        await made.aclose()
    assert "authorization" not in openai_upstream.requests[0].headers


async def test_garbage_body(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    openai_upstream.script(Reply(200, b"<<garbage>>"))
    with pytest.raises(ApiError, match="malformed chat completion"):
        await provider.create_message(REQUEST, "fake-text", ctx())


async def test_cut_stream_raises_after_events(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    openai_upstream.script(Cut(after=3))
    events: list[SSEEvent] = []
    with pytest.raises(ApiError, match="prematurely"):
        await collect(provider.stream_message(REQUEST, "fake-tools", ctx()), events)
    assert events[0].event == "message_start" and len(events) >= 2
    assert len(openai_upstream.requests) == 1


async def test_stream_ending_without_finish_or_done(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    openai_upstream.script(Cut(after=2, clean=True))
    events: list[SSEEvent] = []
    with pytest.raises(ApiError, match="ended prematurely"):
        await collect(provider.stream_message(REQUEST, "fake-text", ctx()), events)
    assert [e.event for e in events][-1] == "content_block_delta"


async def test_error_chunk_mid_stream(openai_upstream: FakeOpenAI, provider: Provider) -> None:
    body = (
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
        b'data: {"error":{"message":"model crashed","type":"server_error"}}\n\n'
    )
    openai_upstream.script(Reply(200, body, {"content-type": "text/event-stream"}))
    events: list[SSEEvent] = []
    with pytest.raises(UpstreamError, match="model crashed"):
        await collect(provider.stream_message(REQUEST, "fake-text", ctx()), events)
    assert events[0].event == "message_start"


async def test_stream_status_error_before_first_event(openai_upstream: FakeOpenAI) -> None:
    openai_upstream.script(openai_error(401, "bad key"))
    made = await make(openai_upstream)
    try:
        with pytest.raises(UpstreamError) as info:
            await collect(made.stream_message(REQUEST, "fake-text", ctx()), [])
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.type) == (502, "api_error")


async def test_closing_the_stream_early_closes_the_upstream_connection(
    openai_upstream: FakeOpenAI, provider: Provider
) -> None:
    openai_upstream.chunk_delay_s = 0.2
    stream = provider.stream_message(REQUEST, "fake-text", ctx())
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    assert first.event == "message_start"
    await stream.aclose()
    await asyncio.wait_for(openai_upstream.disconnected.wait(), 2.0)
    assert openai_upstream.disconnects == 1
