"""A stream requested and a whole JSON answer received (a proxy or mock that ignores ``stream``):
the same message as the exact event grammar, for text, tool_use and thinking blocks and for the
OpenAI translation; any other content type is a 502 that names it."""

from __future__ import annotations

from typing import Any

import pytest

from providers import anthropic, openai
from providers.base import CallContext
from providers.events import accumulate
from specgate.core.errors import GatewayError, UpstreamError
from specgate.core.types import Json, SSEEvent
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import Reply
from tests.providers.grammar import check_stream
from tests.providers.support import collect, config

STREAM: dict[str, Any] = {
    "model": "client-model",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}
BLOCKS: list[Json] = [
    {"type": "thinking", "thinking": "Let me think about it.", "signature": "sig-abc"},
    {"type": "text", "text": "I will look it up, then answer.", "citations": None},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris", "days": [1, 2]}},
]


class Seen:
    """A CallObserver that notes stream-as-JSON calls (the rest is not asked here)."""

    def __init__(self) -> None:
        self.as_json: list[str] = []

    def stream_as_json(self, provider: str) -> None:
        self.as_json.append(provider)

    def attempting(self, provider: str, system: str, model: str, upstream_model: str) -> None: ...
    def trace_headers(self) -> dict[str, str]:
        return {}

    def retried(self, provider: str, reason: str) -> None: ...
    def failed(self, provider: str, reason: str, *, fallback: bool) -> None: ...
    def budget_refused(self, provider: str, what: str) -> None: ...
    def upstream_done(self, provider: str, seconds: float, *, ok: bool) -> None: ...
    def served(self, provider: str, upstream_model: str) -> None: ...
    def usage(self, usage: Json) -> None: ...
    def first_token(self) -> None: ...


def message(content: list[Json]) -> Json:
    return {
        "id": "msg_json_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-upstream",
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 21},
    }


async def events_of(provider: Any, ctx: CallContext, upstream_model: str = "claude-upstream") -> list[SSEEvent]:
    try:
        return await collect(provider.stream_message(STREAM, upstream_model, ctx), [])
    finally:
        await provider.aclose()


async def test_anthropic_json_message_becomes_its_event_stream(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(Reply(200, message(BLOCKS), {"request-id": "req_up_json"}))
    seen = Seen()
    ctx = CallContext(request_id="req_test", observer=seen)
    events = await events_of(anthropic.create(config(anthropic_upstream.url, "anthropic")), ctx)
    rebuilt = check_stream(events)
    assert rebuilt["model"] == "client-model"
    assert [b["type"] for b in rebuilt["content"]] == ["thinking", "text", "tool_use"]
    assert rebuilt["content"][0]["thinking"] == BLOCKS[0]["thinking"]
    assert rebuilt["content"][0]["signature"] == "sig-abc"
    assert rebuilt["content"][1]["text"] == BLOCKS[1]["text"]
    assert rebuilt["content"][2]["input"] == BLOCKS[2]["input"]
    assert rebuilt["stop_reason"] == "tool_use" and rebuilt["usage"]["output_tokens"] == 21
    deltas = {e.data["delta"]["type"] for e in events if e.event == "content_block_delta"}
    assert deltas == {"thinking_delta", "signature_delta", "text_delta", "input_json_delta"}
    assert seen.as_json == ["up"]
    assert ctx.response_headers.get("x-specgate-upstream-request-id") == "req_up_json"
    assert anthropic_upstream.requests[0].body["stream"] is True, "the upstream was asked for a stream"


async def test_fake_told_to_ignore_stream(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.ignore_stream = True
    events = await events_of(anthropic.create(config(anthropic_upstream.url, "anthropic")), CallContext("req_t"))
    assert accumulate(events)["content"][0]["text"] == "Hello, world!"


async def test_json_error_body_with_200_is_an_error(anthropic_upstream: FakeAnthropic) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "busy upstream"}}
    anthropic_upstream.script(Reply(200, body))
    with pytest.raises(UpstreamError) as info:
        await events_of(anthropic.create(config(anthropic_upstream.url, "anthropic")), CallContext("req_t"))
    assert (info.value.status_code, info.value.message) == (529, "busy upstream")


async def test_json_that_is_not_a_message_is_malformed(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(Reply(200, {"hello": "world"}))
    with pytest.raises(GatewayError, match="malformed message body"):
        await events_of(anthropic.create(config(anthropic_upstream.url, "anthropic")), CallContext("req_t"))


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_other_content_type_is_a_502_naming_it(
    kind: str, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    page = Reply(200, b"<html>login</html>", {"content-type": "text/html; charset=utf-8"})
    if kind == "anthropic":
        anthropic_upstream.script(page)
        provider: Any = anthropic.create(config(anthropic_upstream.url, "anthropic"))
    else:
        openai_upstream.script(page)
        provider = openai.create(config(openai_upstream.url + "/v1", "openai"))
    with pytest.raises(UpstreamError) as info:
        await events_of(provider, CallContext("req_t"), "fake-text")
    assert info.value.status_code == 502 and info.value.type == "api_error"
    assert "'text/html'" in info.value.message and "text/event-stream" in info.value.message
    assert info.value.retryable, "the route's fault: a fallback may serve the request"


@pytest.mark.parametrize("scenario", ["fake-text", "fake-tools", "fake-reasoning"])
async def test_openai_completion_to_a_stream_request(openai_upstream: FakeOpenAI, scenario: str) -> None:
    """The same message as the non-stream translation, as events."""
    cfg = config(openai_upstream.url + "/v1", "openai")
    made = openai.create(cfg)
    try:
        expected = await made.create_message({**STREAM, "stream": False}, scenario, CallContext("req_a"))
    finally:
        await made.aclose()
    openai_upstream.ignore_stream = True
    seen = Seen()
    events = await events_of(openai.create(cfg), CallContext("req_b", observer=seen), scenario)
    rebuilt = check_stream(events)
    assert rebuilt["content"] == expected["content"]
    assert (rebuilt["stop_reason"], rebuilt["usage"]) == (expected["stop_reason"], expected["usage"])
    assert openai_upstream.requests[-1].body["stream"] is True
    assert seen.as_json == ["up"]
