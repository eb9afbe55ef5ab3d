"""The OpenAI translation's answers held to the installed SDK's models key for key.

The strict checker of ``tests/test_sdk_responses.py`` (every key ``Model.model_fields`` declares
present, no other key, recursively, then ``model_validate``) applied to the Messages and stream
events the translation builds: straight from the pure functions, and over HTTP from a live
gateway whose ``openai`` provider talks to the loopback fake OpenAI upstream, in the GA and in
the beta namespace. The ``anthropic`` provider relays upstream bodies untouched (not checked here).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic.types as sdk
import anthropic.types.beta as beta_types
import pytest

from providers.openai.translate import ChatStreamTranslator, from_chat_response
from specgate.core.types import SSEEvent
from tests.fakes.openai_upstream import FakeOpenAI
from tests.handlers.upstreams import CLIENT_KEY, TOOLS, config
from tests.providers.openai.test_translate_stream import CASES as STREAM_CASES
from tests.support.http import request
from tests.support.sse import parse_frames
from tests.test_sdk_responses import assert_exact, assert_stream, problems

Json = dict[str, Any]

USAGE: Json = {
    "prompt_tokens": 40,
    "completion_tokens": 30,
    "prompt_tokens_details": {"cached_tokens": 8},
    "completion_tokens_details": {"reasoning_tokens": 12},
}


def completion(message: Json, finish: str | None, choice: Json | None = None, **top: Any) -> Json:
    only = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **(choice or {})}
    return {"id": "chatcmpl-s", "object": "chat.completion", "choices": [only], **top}


CALL: Json = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "P"}'}}

COMPLETIONS: dict[str, Json] = {
    "text": completion({"content": "Hello"}, "stop", usage=USAGE, service_tier="default"),
    "no usage": completion({"content": "Hello"}, "stop"),
    "tool_use": completion({"content": "Checking.", "tool_calls": [CALL]}, "tool_calls", usage=USAGE),
    "reasoning": completion({"reasoning_content": "hmm", "content": "4"}, "stop", usage=USAGE),
    "refusal": completion({"content": None, "refusal": "No."}, "stop", usage=USAGE, service_tier="priority"),
    "content filter": completion({"content": "partial"}, "content_filter", usage=USAGE),
    "length": completion({"content": "cut"}, "length", usage=USAGE, service_tier="flex"),
    "stop sequence (vLLM)": completion({"content": "a"}, "stop", {"stop_reason": "END"}, usage=USAGE),
}


def events_of(stream: list[SSEEvent]) -> list[tuple[str, Json]]:
    return [(e.event, e.data) for e in stream]


# ---- the pure translation


@pytest.mark.parametrize("case", list(COMPLETIONS))
def test_translated_message_is_exactly_the_sdk_message(case: str) -> None:
    message = from_chat_response(COMPLETIONS[case], "client-model")
    assert_exact(message, sdk.Message, f"{case}: Message")


@pytest.mark.parametrize("case", [c[0] for c in STREAM_CASES])
def test_translated_stream_events_are_exactly_the_sdk_events(case: str) -> None:
    (chunks,) = [c[1] for c in STREAM_CASES if c[0] == case]
    translator = ChatStreamTranslator("client-model", "msg_1", 5)
    stream = [e for chunk in chunks for e in translator.feed(chunk)] + translator.finish(done=True)
    assert_stream(events_of(stream), f"{case}: stream")


def test_the_check_sees_what_the_translation_used_to_leave_out() -> None:
    """The shapes the translation produced before it completed them fail the strict check."""
    message = from_chat_response(COMPLETIONS["tool_use"], "m")
    for key in ("stop_details", "container", "diagnostics"):
        del message[key]
    del message["usage"]["server_tool_use"], message["content"][0]["citations"], message["content"][1]["caller"]
    found = "\n".join(problems(message, sdk.Message, "message"))
    assert "missing ['container', 'diagnostics', 'stop_details']" in found, found
    assert "(Usage): missing ['server_tool_use']" in found, found
    assert "(TextBlock): missing ['citations']" in found, found
    assert "(ToolUseBlock): missing ['caller']" in found, found
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {}}
    delta["usage"] = from_chat_response(COMPLETIONS["text"], "m")["usage"]  # a Usage is not a MessageDeltaUsage
    found = "\n".join(problems(delta, sdk.RawMessageStreamEvent, "event"))
    assert "(MessageDeltaUsage): ['cache_creation', 'inference_geo', 'service_tier', 'speed'] not declared" in found


# ---- over HTTP, an openai provider in a live gateway in front of the fake OpenAI upstream

SCENARIOS: dict[str, tuple[Json, str, list[str]]] = {  # (request fields, upstream model, block types)
    "text": ({"model": "oai-text"}, "fake-text", ["text"]),
    "tool_use": ({"model": "oai-tools", "tools": TOOLS}, "fake-tools", ["tool_use", "tool_use"]),
    "reasoning": ({"model": "oai-reasoning"}, "fake-reasoning", ["thinking", "text"]),
}

NAMESPACES = {  # (query, headers, Message model, stream event union)
    "ga": ("", {}, sdk.Message, sdk.RawMessageStreamEvent),
    "beta": ("?beta=true", {}, beta_types.BetaMessage, beta_types.BetaRawMessageStreamEvent),
}


async def post(url: str, body: Json, headers: dict[str, str]) -> Any:
    """``request`` in a thread: the fake upstream serves from this test's event loop."""
    return await asyncio.to_thread(request, url, body=body, headers={"x-api-key": CLIENT_KEY, **headers})


@pytest.mark.parametrize("namespace", list(NAMESPACES))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_http_openai_provider_message_and_stream(
    gateway_factory: Any, openai_upstream: FakeOpenAI, scenario: str, namespace: str
) -> None:
    gw = gateway_factory(config("http://127.0.0.1:9", openai_upstream.url))
    query, headers, message_model, event_union = NAMESPACES[namespace]
    fields, upstream_model, kinds = SCENARIOS[scenario]
    params: Json = {"max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}], **fields}
    url = gw.url + "/v1/messages" + query

    reply = await post(url, params, headers)
    assert reply.status == 200, reply.body
    assert reply.headers["x-specgate-provider"] == "oai"
    message = reply.json()
    assert_exact(message, message_model, f"{namespace} POST /v1/messages ({scenario})")
    assert [b["type"] for b in message["content"]] == kinds

    streamed = await post(url, params | {"stream": True}, headers)
    assert streamed.status == 200, streamed.body
    events = [(str(name), json.loads(data)) for name, data in parse_frames(streamed.body)]
    assert_stream(events, f"{namespace} stream ({scenario})", event_union)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == len(kinds)
    assert [r.body["model"] for r in openai_upstream.requests] == [upstream_model] * 2
