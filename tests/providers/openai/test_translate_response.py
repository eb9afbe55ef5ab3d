"""from_chat_response: OpenAI chat.completion -> Anthropic Message (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from providers.openai.translate import from_chat_response
from specgate.core.errors import ApiError
from tests.providers.openai.expected import text, thinking, tool_use

Json = dict[str, Any]


def completion(message: Json, finish: str | None = "stop", usage: Json | None = None, **choice: Any) -> Json:
    body: Json = {
        "id": "chatcmpl-42",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


FINISH: list[tuple[str | None, Json, str, str | None]] = [
    ("stop", {}, "end_turn", None),
    ("length", {}, "max_tokens", None),
    ("content_filter", {}, "refusal", None),
    ("tool_calls", {}, "tool_use", None),
    ("function_call", {}, "tool_use", None),
    (None, {}, "end_turn", None),
    ("stop", {"stop_reason": "END"}, "stop_sequence", "END"),  # vLLM names the matched stop string
    ("stop", {"stop_reason": 50256}, "end_turn", None),  # a stop token id is not a stop sequence
]


@pytest.mark.parametrize(("finish", "extra", "stop_reason", "stop_sequence"), FINISH)
def test_finish_reasons(finish: str | None, extra: Json, stop_reason: str, stop_sequence: str | None) -> None:
    msg = from_chat_response(completion({"content": "x"}, finish, **extra), "client")
    assert (msg["stop_reason"], msg["stop_sequence"]) == (stop_reason, stop_sequence)
    refused = {"type": "refusal", "category": None, "explanation": None}
    assert msg["stop_details"] == (refused if stop_reason == "refusal" else None)


def test_text_message_shape_and_usage() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 40}}
    msg = from_chat_response(completion({"content": "Hello"}, usage=usage), "client-model")
    assert msg == {
        "id": "msg_chatcmpl-42",
        "type": "message",
        "role": "assistant",
        "model": "client-model",
        "content": [text("Hello")],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "usage": {
            "input_tokens": 60,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 40,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": None,
            "inference_geo": None,
            "output_tokens_details": None,
            "speed": None,
        },
    }


def test_reasoning_tokens_become_thinking_tokens() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 32}}
    msg = from_chat_response(completion({"content": "x"}, usage=usage), "m")
    assert msg["usage"]["output_tokens"] == 50
    assert msg["usage"]["output_tokens_details"] == {"thinking_tokens": 32}


@pytest.mark.parametrize(
    ("openai_tier", "anthropic_tier"),
    [("default", "standard"), ("priority", "priority"), ("flex", None), ("scale", None), (None, None), (3, None)],
)
def test_service_tier(openai_tier: Any, anthropic_tier: str | None) -> None:
    body = completion({"content": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1})
    if openai_tier is not None:
        body["service_tier"] = openai_tier
    assert from_chat_response(body, "m")["usage"]["service_tier"] == anthropic_tier


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_becomes_a_leading_thinking_block(field: str) -> None:
    msg = from_chat_response(completion({field: "think", "content": "answer"}), "m")
    assert msg["content"] == [
        thinking("think"),
        text("answer"),
    ]


def test_tool_calls_become_tool_use_blocks() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"x": [1, 2]}'}},
        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": ""}},
    ]
    msg = from_chat_response(completion({"content": None, "tool_calls": calls}, "tool_calls"), "m")
    assert msg["content"] == [
        tool_use("call_1", "a", {"x": [1, 2]}),
        tool_use("call_2", "b", {}),
    ]
    assert msg["stop_reason"] == "tool_use"


def test_tool_calls_with_finish_stop_still_mean_tool_use() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "a", "arguments": "{}"}}]
    assert from_chat_response(completion({"tool_calls": calls}, "stop"), "m")["stop_reason"] == "tool_use"


@pytest.mark.parametrize("arguments", ['{"x": ', "[1, 2]", "not json"])
def test_invalid_tool_arguments_raise(arguments: str) -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "a", "arguments": arguments}}]
    with pytest.raises(ApiError, match="tool call 'a'"):
        from_chat_response(completion({"tool_calls": calls}, "tool_calls"), "m")


def test_refusal_field() -> None:
    msg = from_chat_response(completion({"content": None, "refusal": "I can't help"}), "m")
    assert msg["content"] == [text("I can't help")]
    assert msg["stop_reason"] == "refusal"
    assert msg["stop_details"] == {"type": "refusal", "category": None, "explanation": None}


def test_missing_usage_is_estimated_not_zero() -> None:
    msg = from_chat_response(completion({"content": "x" * 40}), "m")
    assert msg["usage"]["output_tokens"] == 10
    assert msg["usage"]["input_tokens"] == 0


@pytest.mark.parametrize("body", [{}, {"choices": []}, {"choices": "nope"}])
def test_no_choices_is_an_api_error(body: Json) -> None:
    with pytest.raises(ApiError, match="no choices"):
        from_chat_response(body, "m")


def test_random_message_id_without_upstream_id() -> None:
    body = completion({"content": "x"})
    del body["id"]
    first, second = from_chat_response(body, "m")["id"], from_chat_response(body, "m")["id"]
    assert first.startswith("msg_") and second.startswith("msg_") and first != second
