"""Upstream faults through the gateway, seen by the official SDK (or raw HTTP where the bytes
matter): each fault's documented client-visible behaviour, and never a hang past the deadline."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI, openai_error
from tests.fakes.server import Cut, Delay, FakeServer, Reply, Reset
from tests.handlers.upstreams import CLIENT_KEY, config, sdk
from tests.support.sse import parse_frames

PROVIDERS = ["ant", "oai"]
MODEL = {"ant": "ant-model", "oai": "oai-text"}
TEXT = {"ant": "Hello, world!", "oai": "Hello world"}
HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


def error_reply(provider: str, status: int, error_type: str, **headers: str) -> Reply:
    if provider == "ant":
        return anthropic_error(status, error_type, f"upstream says {status}", **headers)
    return openai_error(status, f"upstream says {status}", error_type, **headers)


def error_type(err: anthropic.APIStatusError) -> str:
    body: Any = err.body
    return str(body["error"]["type"])


def error_message(err: anthropic.APIStatusError) -> str:
    body: Any = err.body
    return str(body["error"]["message"])


def fake(provider: str, ant: FakeAnthropic, oai: FakeOpenAI) -> FakeServer:
    return ant if provider == "ant" else oai


async def raw_stream(gateway_url: str, model: str) -> tuple[int, list[tuple[str | None, dict[str, Any]]]]:
    """POST a streaming request with plain HTTP; the status and the decoded SSE frames."""
    body = {"model": model, "stream": True, **HI}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.post(gateway_url + "/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}) as resp,
    ):
        raw = await resp.read()
    return resp.status, [(name, json.loads(data)) for name, data in parse_frames(raw)]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_is_retried_after_retry_after_then_succeeds(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(error_reply(provider, 429, "rate_limit_error", **{"retry-after-ms": "300"}))
    started = time.monotonic()
    async with sdk(gw.url) as client:
        msg = await client.messages.create(model=MODEL[provider], **HI)
    assert msg.content[0].text == TEXT[provider]  # type: ignore[union-attr]
    assert len(up.requests) == 2
    assert time.monotonic() - started >= 0.3, "the retry waited as the upstream asked"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_relayed_with_retry_after_when_retries_are_exhausted(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    limited = error_reply(provider, 429, "rate_limit_error", **{"retry-after-ms": "10", "retry-after": "7"})
    up.script(*[limited] * 6)
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model=MODEL[provider], **HI)
        assert len(up.requests) == 3  # max_retries: 2
        with pytest.raises(anthropic.RateLimitError) as streamed:  # before the first event: plain HTTP 429
            async with client.messages.stream(model=MODEL[provider], **HI) as stream:
                await stream.get_final_message()
        assert len(up.requests) == 6
    for err in (info.value, streamed.value):
        assert err.status_code == 429
        assert err.response.headers["retry-after"] == "7"
        assert error_type(err) == "rate_limit_error"
        assert err.response.headers["x-specgate-upstream-request-id"] in ("req_fake_err", "req_oai_err")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_500_is_retried_and_529_relayed_as_overloaded(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(error_reply(provider, 500, "api_error"), error_reply(provider, 529, "overloaded_error"))
    async with sdk(gw.url) as client:
        msg = await client.messages.create(model=MODEL[provider], **HI)
        assert msg.content[0].text == TEXT[provider]  # type: ignore[union-attr]
        assert len(up.requests) == 3
        up.script(*[error_reply(provider, 529, "overloaded_error")] * 3)
        with pytest.raises(anthropic.OverloadedError) as info:
            await client.messages.create(model=MODEL[provider], **HI)
    assert info.value.status_code == 529 and error_type(info.value) == "overloaded_error"
    assert len(up.requests) == 6


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_reset_is_retried_then_reported(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(Reset(), Reset())
    async with sdk(gw.url) as client:
        msg = await client.messages.create(model=MODEL[provider], **HI)
        assert msg.content[0].text == TEXT[provider]  # type: ignore[union-attr]
        up.script(Reset())
        async with client.messages.stream(model=MODEL[provider], **HI) as stream:
            assert await stream.get_final_text() == TEXT[provider]
        assert len(up.requests) == 5
        up.script(Reset(), Reset(), Reset())
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model=MODEL[provider], **HI)
    assert info.value.status_code == 502 and error_type(info.value) == "api_error"
    assert (
        error_message(info.value)
        == f"upstream {provider!r} failed: the connection was closed before the answer was complete"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_slow_first_byte_is_a_timeout_in_bounded_time(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str, stream: bool
) -> None:
    overrides = {"timeout_s": 1}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=overrides, oai=overrides))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(*[Delay(10)] * 3)
    started = time.monotonic()
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            if stream:
                async with client.messages.stream(model=MODEL[provider], **HI) as s:
                    await s.get_final_message()
            else:
                await client.messages.create(model=MODEL[provider], **HI)
    elapsed = time.monotonic() - started
    assert info.value.status_code == 504 and error_type(info.value) == "timeout_error"
    assert "did not answer before the deadline" in info.value.message
    assert 0.9 < elapsed < 3.5, elapsed  # timeout_s 1; the upstream would take 10 s


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_stalled_mid_way_ends_with_an_error_event(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    overrides = {"read_timeout_s": 0.5}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=overrides, oai=overrides))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.chunk_delay_s = 3.0  # silence longer than read_timeout_s after the first frame
    started = time.monotonic()
    status, frames = await raw_stream(gw.url, MODEL[provider])
    assert status == 200
    assert frames[0][0] == "message_start"
    assert frames[-1][0] == "error" and frames[-1][1]["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_trickling_stream_is_cut_at_the_deadline(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    """Each frame arrives within read_timeout_s, but the whole stream would outlast timeout_s."""
    overrides = {"timeout_s": 1, "read_timeout_s": 2}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=overrides, oai=overrides))
    fake(provider, anthropic_upstream, openai_upstream).chunk_delay_s = 0.4  # >= 2.4 s in all
    started = time.monotonic()
    status, frames = await raw_stream(gw.url, MODEL[provider])
    assert status == 200 and frames[0][0] == "message_start"
    assert frames[-1][0] == "error" and frames[-1][1]["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 2.5  # cut at ~1 s; uncut it would end with message_stop


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("clean", [False, True], ids=["connection-cut", "body-ends-early"])
async def test_stream_cut_mid_way_ends_with_an_error_event(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str, clean: bool
) -> None:
    """A connection aborted mid-stream, or a body that ends without ``message_stop`` (Anthropic)
    or without ``finish_reason`` and ``[DONE]`` (OpenAI): ``event: error``, never a hang."""
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(Cut(after=3, clean=clean))
    status, frames = await raw_stream(gw.url, MODEL[provider])
    assert status == 200
    names = [name for name, _ in frames]
    assert names[0] == "message_start" and "message_stop" not in names
    assert names[-1] == "error" and frames[-1][1]["error"]["type"] == "api_error"
    assert "ended" in frames[-1][1]["error"]["message"]
    up.script(Cut(after=3, clean=clean))
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.APIStatusError, match="ended"):
            async with client.messages.stream(model=MODEL[provider], **HI) as stream:
                await stream.get_final_message()
    # an Anthropic stream whose last frame is message_delta (no message_stop) is an error too
    if provider == "ant":
        up.script(Cut(after=9, clean=True))
        status, frames = await raw_stream(gw.url, MODEL[provider])
        assert [n for n, _ in frames][-2:] == ["message_delta", "error"]
        assert frames[-1][1]["error"]["message"] == "upstream stream ended before message_stop"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_json_is_an_api_error(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, provider: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    up = fake(provider, anthropic_upstream, openai_upstream)
    sse = b"event: message_start\ndata: {not json\n\n" if provider == "ant" else b"data: {not json\n\n"
    up.script(Reply(200, b'{"id": "msg_1", "content": [tru'), Reply(200, sse, {"content-type": "text/event-stream"}))
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.InternalServerError) as info:
            await client.messages.create(model=MODEL[provider], **HI)
        with pytest.raises(anthropic.InternalServerError) as streamed:
            async with client.messages.stream(model=MODEL[provider], **HI) as stream:
                await stream.get_final_message()
    for err in (info.value, streamed.value):
        assert err.status_code == 500 and error_type(err) == "api_error"
        assert "malformed" in err.message
    assert len(up.requests) == 2  # a malformed 200 is not retried
