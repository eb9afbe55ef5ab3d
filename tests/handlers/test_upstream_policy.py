"""Upstream policy through the gateway, seen by the official SDK: the retry budget across retries
and fallbacks (an upstream that takes 5 s per failing attempt), a JSON answer to a stream
request relayed as the event stream (and counted), a non-SSE answer named in a 502, provider
headers and forwarded client headers, an outbound proxy, and read_timeout_s leaving whole
answers alone."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI, openai_error
from tests.fakes.proxy import FakeProxy
from tests.fakes.server import Delay, Reply
from tests.handlers.upstreams import CLIENT_KEY, config, leaked, sdk
from tests.support import metrics as prom

HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
FALLBACK = {"match": "ant-model", "provider": "ant", "upstream_model": "claude-upstream", "fallbacks": ["oai-text"]}


@pytest.fixture
async def proxy() -> AsyncIterator[FakeProxy]:
    server = FakeProxy()
    await server.start()
    yield server
    await server.stop()


async def test_slow_failing_upstream_gives_its_error_within_the_time_budget(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    """Each attempt takes 5 s to fail (a gateway retrying inside). Unbudgeted: 3 attempts here and
    3 at the fallback, ~30 s. With max_seconds 4, neither a retry nor the fallback starts (5 + 5 s
    would end past 4 s): one attempt, the upstream's own error."""
    slow = {"timeout_s": 30, "max_retries": 2}
    cfg = config(anthropic_upstream.url, openai_upstream.url, ant=slow, oai=slow, models=[FALLBACK])
    cfg["server"] = {"retry_budget": {"max_attempts": 10, "max_seconds": 4}}
    gw = gateway_factory(cfg)
    failing = anthropic_error(503, "overloaded_error", "upstream gateway gave up")
    anthropic_upstream.script(*[Reply(failing.status, failing.body, failing.headers, delay_s=5.0)] * 3)
    openai_upstream.script(*[Reply(503, openai_error(503, "down").body, delay_s=5.0)] * 3)
    started = time.monotonic()
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model="ant-model", **HI)
    assert time.monotonic() - started < 12  # generous: the unbudgeted run takes ~30 s
    assert info.value.status_code == 503 and "upstream gateway gave up" in str(info.value)
    assert (len(anthropic_upstream.requests), len(openai_upstream.requests)) == (1, 0)


async def test_attempt_budget_is_shared_with_the_fallback(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    cfg = config(
        anthropic_upstream.url, openai_upstream.url, ant={"max_retries": 1}, oai={"max_retries": 2}, models=[FALLBACK]
    )
    cfg["server"] = {"retry_budget": {"max_attempts": 3}}
    gw = gateway_factory(cfg)
    anthropic_upstream.script(*[anthropic_error(503, "api_error", "primary down")] * 3)
    openai_upstream.script(*[openai_error(503, "fallback down")] * 3)
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model="ant-model", **HI)
    assert info.value.status_code == 503 and "fallback down" in str(info.value)
    assert (len(anthropic_upstream.requests), len(openai_upstream.requests)) == (2, 1)  # not 2 + 3


async def _stream_as_json_metric(gw_url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(gw_url + "/metrics") as resp:
        text = await resp.text()
    return prom.value(text, "specgate_upstream_stream_as_json_total", provider="ant") + prom.value(
        text, "specgate_upstream_stream_as_json_total", provider="oai"
    )


@pytest.mark.parametrize("model", ["ant-model", "oai-tools"])
async def test_json_answer_to_a_stream_request_reaches_the_sdk_as_a_stream(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, model: str
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    async with sdk(gw.url) as client:
        expected = await client.messages.create(model=model, **HI)
        anthropic_upstream.ignore_stream = openai_upstream.ignore_stream = True
        async with client.messages.stream(model=model, **HI) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in expected.content]
    assert (final.stop_reason, final.model) == (expected.stop_reason, model)
    assert await _stream_as_json_metric(gw.url) == 1


async def test_html_answer_to_a_stream_request_is_a_502_naming_it(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    anthropic_upstream.script(Reply(200, b"<html>sign in</html>", {"content-type": "text/html"}))
    body = {"model": "ant-model", "stream": True, **HI}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}) as resp,
    ):
        raw = await resp.read()
    assert resp.status == 502 and resp.content_type == "application/json"
    error = json.loads(raw)["error"]
    assert error["type"] == "api_error" and "'text/html'" in error["message"]


async def test_provider_headers_and_forwarded_client_headers(
    gateway_factory: Any,
    anthropic_upstream: FakeAnthropic,
    openai_upstream: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_PORTKEY_CONFIG", "pc-123")
    outbound = {"headers": {"x-portkey-config": "${TEST_PORTKEY_CONFIG}"}, "forward_headers": ["x-portkey-*", "*"]}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=outbound, oai=outbound))
    async with sdk(gw.url, default_headers={"x-portkey-trace-id": "trace-9"}) as client:
        await client.messages.create(model="ant-model", **HI)
        await client.messages.create(model="oai-text", **HI)
        async with client.messages.stream(model="ant-model", **HI) as stream:
            await stream.get_final_message()
    for seen in [*anthropic_upstream.requests, *openai_upstream.requests]:
        assert seen.headers["x-portkey-config"] == "pc-123"
        assert seen.headers["x-portkey-trace-id"] == "trace-9"
        assert "x-stainless-lang" in seen.headers  # "*": any other client header
        assert leaked(seen.headers) == [], "the client's key is an auth header: never forwarded by a glob"
    assert anthropic_upstream.requests[0].headers["x-api-key"] == "ant-key-1"


async def test_outbound_proxy(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, proxy: FakeProxy
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, oai={"proxy": proxy.url}))
    async with sdk(gw.url) as client:
        await client.messages.create(model="ant-model", **HI)
        async with client.messages.stream(model="oai-text", **HI) as stream:
            await stream.get_final_message()
    assert [p.target for p in proxy.passed] == [openai_upstream.url + "/v1/chat/completions"]
    assert len(anthropic_upstream.requests) == 1, "only the provider with a proxy uses it"


async def test_read_timeout_does_not_cut_a_whole_answer(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant={"read_timeout_s": 0.3}))
    anthropic_upstream.script(Delay(1.0))
    async with sdk(gw.url) as client:
        message = await client.messages.create(model="ant-model", **HI)
    assert message.content[0].type == "text"
    assert len(anthropic_upstream.requests) == 1
