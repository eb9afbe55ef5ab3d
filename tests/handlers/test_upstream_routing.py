"""Routing through real upstreams: fallbacks after exhausted retries, key rotation, streams that
are relayed as they arrive, and a client that leaves cancelling the upstream request."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI, openai_error
from tests.fakes.server import Delay, FakeServer, Reply
from tests.handlers.upstreams import CLIENT_KEY, config, sdk

HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
FALLBACK_ROUTES = [
    {"match": "primary", "provider": "ant", "upstream_model": "claude-upstream", "fallbacks": ["oai-text"]},
]


async def test_fallback_serves_when_retries_on_the_first_route_are_exhausted(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, models=FALLBACK_ROUTES))
    overloaded = anthropic_error(529, "overloaded_error", "busy")
    async with sdk(gw.url) as client:
        anthropic_upstream.script(*[overloaded] * 3)
        raw = await client.messages.with_raw_response.create(model="primary", **HI)
        msg = await raw.parse()
        assert raw.headers["x-specgate-provider"] == "oai"
        assert raw.headers["x-specgate-upstream-model"] == "fake-text"
        assert msg.model == "primary" and msg.content[0].text == "Hello world"  # type: ignore[union-attr]
        assert len(anthropic_upstream.requests) == 3 and len(openai_upstream.requests) == 1

        anthropic_upstream.script(*[overloaded] * 3)
        async with client.messages.stream(model="primary", **HI) as stream:
            assert stream.response.headers["x-specgate-provider"] == "oai"
            final = await stream.get_final_message()
        assert final.model == "primary" and final.content[0].text == "Hello world"  # type: ignore[union-attr]
        assert len(anthropic_upstream.requests) == 6 and len(openai_upstream.requests) == 2

        # a healthy first route serves by itself
        raw = await client.messages.with_raw_response.create(model="primary", **HI)
        assert raw.headers["x-specgate-provider"] == "ant" and len(openai_upstream.requests) == 2

        # a client error is the client's: no retry, no fallback
        anthropic_upstream.script(anthropic_error(400, "invalid_request_error", "messages: bad"))
        with pytest.raises(anthropic.BadRequestError, match="messages: bad"):
            await client.messages.create(model="primary", **HI)
        assert len(anthropic_upstream.requests) == 8 and len(openai_upstream.requests) == 2


@pytest.mark.parametrize(
    "refusal",
    [
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        anthropic_error(404, "not_found_error", "model: claude-upstream"),
        Reply(400, b"<html>400 Bad Request</html>", {"content-type": "text/html"}),
    ],
    ids=["401", "404", "400-foreign"],
)
async def test_a_route_the_upstream_refuses_falls_back(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, refusal: Reply
) -> None:
    """The first route's upstream refuses the gateway's key, model or path (a 502 of the
    gateway's own): the next route is tried at once, and serves; no retry on the refusing one."""
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, models=FALLBACK_ROUTES))
    anthropic_upstream.script(refusal)
    async with sdk(gw.url) as client:
        raw = await client.messages.with_raw_response.create(model="primary", **HI)
    msg = await raw.parse()
    assert raw.headers["x-specgate-provider"] == "oai" and msg.content[0].text == "Hello world"  # type: ignore[union-attr]
    assert len(anthropic_upstream.requests) == 1 and len(openai_upstream.requests) == 1


async def test_last_route_error_is_relayed_when_fallbacks_fail_too(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, models=FALLBACK_ROUTES))
    anthropic_upstream.script(*[anthropic_error(529, "overloaded_error", "busy")] * 3)
    openai_upstream.script(*[openai_error(429, "slow down", "rate_limit_error", **{"retry-after": "0"})] * 3)
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model="primary", **HI)
    assert info.value.response.headers["retry-after"] == "0"
    assert len(anthropic_upstream.requests) == 3 and len(openai_upstream.requests) == 3


async def test_keys_rotate_and_a_rejected_key_is_set_aside(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    keys = {"api_keys": ["k1", "k2", "k3"]}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=keys, oai=keys))
    async with sdk(gw.url) as client:
        for _ in range(3):
            await client.messages.create(model="ant-model", **HI)
            await client.messages.create(model="oai-text", **HI)
        assert [r.headers["x-api-key"] for r in anthropic_upstream.requests] == ["k1", "k2", "k3"]
        assert [r.headers["authorization"] for r in openai_upstream.requests] == [
            "Bearer k1",
            "Bearer k2",
            "Bearer k3",
        ]
        # k1 is refused: the same request is retried with the next key, and k1 then sits out
        anthropic_upstream.script(anthropic_error(401, "authentication_error", "invalid x-api-key"))
        msg = await client.messages.create(model="ant-model", **HI)
        assert msg.content[0].text == "Hello, world!"  # type: ignore[union-attr]
        for _ in range(2):
            await client.messages.create(model="ant-model", **HI)
    assert [r.headers["x-api-key"] for r in anthropic_upstream.requests[3:]] == ["k1", "k2", "k3", "k2"]


async def _first_event_and_end(client: anthropic.AsyncAnthropic, model: str) -> tuple[float, float, int]:
    started = time.monotonic()
    first: float | None = None
    deltas = 0
    async with client.messages.stream(model=model, **HI) as stream:
        async for event in stream:
            first = first if first is not None else time.monotonic() - started
            deltas += event.type == "content_block_delta"
    assert first is not None
    return first, time.monotonic() - started, deltas


@pytest.mark.parametrize("provider", ["ant", "oai"])
async def test_stream_is_relayed_as_it_arrives(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    """The upstream takes >= 1.2 s to send its stream (0.2 s between frames); the first event
    must reach the client long before that, so the gateway does not buffer."""
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up: FakeServer = anthropic_upstream if provider == "ant" else openai_upstream
    up.chunk_delay_s = 0.2
    async with sdk(gw.url) as client:
        first, total, deltas = await _first_event_and_end(client, "ant-model" if provider == "ant" else "oai-text")
    assert deltas >= 2
    assert total >= 1.1, f"upstream pacing not observed ({total:.2f}s)"
    assert first < min(1.0, total / 2), f"first event after {first:.2f}s of a {total:.2f}s stream: buffered"


async def _open_raw(url: str, model: str, stream: bool = True) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    data = json.dumps({"model": model, "stream": stream, "max_tokens": 20, "messages": HI["messages"]}).encode()
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {CLIENT_KEY}\r\ncontent-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return reader, writer


@pytest.mark.parametrize("provider", ["ant", "oai"])
async def test_client_disconnect_cancels_the_upstream_request(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up: FakeServer = anthropic_upstream if provider == "ant" else openai_upstream
    up.chunk_delay_s = 0.3  # the whole stream would take >= 1.8 s
    reader, writer = await _open_raw(gw.url, "ant-model" if provider == "ant" else "oai-text")
    received = b""
    while b"event: message_start" not in received:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, "stream ended early"
        received += chunk
    writer.close()
    started = time.monotonic()
    await asyncio.wait_for(up.disconnected.wait(), 3)
    assert up.disconnects == 1
    assert time.monotonic() - started < 2.5, "upstream kept streaming after the client left"


@pytest.mark.parametrize("provider", ["ant", "oai"])
async def test_client_disconnect_cancels_a_non_streaming_upstream_request(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    slow = {"read_timeout_s": 5}  # longer than the test waits: only the disconnect can stop it
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=slow, oai=slow))
    up: FakeServer = anthropic_upstream if provider == "ant" else openai_upstream
    up.script(Delay(4))  # the upstream is slow to answer
    _reader, writer = await _open_raw(gw.url, "ant-model" if provider == "ant" else "oai-text", stream=False)
    for _ in range(250):  # until the upstream has the request (at most 5 s)
        if up.requests:
            break
        await asyncio.sleep(0.02)
    assert up.requests
    writer.close()
    started = time.monotonic()
    await asyncio.wait_for(up.disconnected.wait(), 3)
    assert up.disconnects == 1
    assert time.monotonic() - started < 2.5, "the upstream request outlived the client"
    # the gateway is still healthy
    async with sdk(gw.url) as client:
        msg = await client.messages.create(model="ant-model" if provider == "ant" else "oai-text", **HI)
    assert msg.stop_reason == "end_turn"
