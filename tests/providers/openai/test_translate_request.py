"""to_chat_request: Anthropic Messages request -> OpenAI /chat/completions body (table-driven)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.openai.translate import to_chat_request

Json = dict[str, Any]

BASE: Json = {"model": "client-model", "max_tokens": 64}


def req(**fields: Any) -> Json:
    return {**BASE, "messages": [{"role": "user", "content": "hi"}], **fields}


CASES: list[tuple[str, Json, Json]] = [
    (
        "plain string turn",
        req(),
        {"model": "up", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    ),
    (
        "system string",
        req(system="be brief"),
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
    ),
    (
        "system text blocks joined into one message, cache_control dropped",
        req(
            system=[
                {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "two"},
            ]
        ),
        {"messages": [{"role": "system", "content": "one\n\ntwo"}, {"role": "user", "content": "hi"}]},
    ),
    (
        "multi-turn text, assistant blocks concatenated, thinking dropped",
        {
            **BASE,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "q1"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "xx"},
                        {"type": "text", "text": "a"},
                        {"type": "text", "text": "1"},
                    ],
                },
                {"role": "user", "content": "q2"},
            ],
        },
        {
            "messages": [
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2"},
            ]
        },
    ),
    (
        "images: base64 -> data URL, url -> image_url",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}},
                    ],
                }
            ]
        ),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                        {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}},
                    ],
                }
            ]
        },
    ),
    (
        "stop sequences, sampling, user id, top_k and thinking dropped",
        req(
            stop_sequences=["END", "STOP"],
            temperature=0.2,
            top_p=0.9,
            top_k=5,
            metadata={"user_id": "u-1"},
            thinking={"type": "enabled", "budget_tokens": 2048},
            service_tier="auto",
        ),
        {"stop": ["END", "STOP"], "temperature": 0.2, "top_p": 0.9, "user": "u-1"},
    ),
    (
        "stream asks for usage",
        req(stream=True),
        {"stream": True, "stream_options": {"include_usage": True}},
    ),
]


@pytest.mark.parametrize(("name", "request_body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_request_translation(name: str, request_body: Json, expected: Json) -> None:
    out = to_chat_request(request_body, "up")
    for key, value in expected.items():
        assert out[key] == value, key
    assert out["model"] == "up"
    for dropped in ("top_k", "thinking", "service_tier", "metadata", "stop_sequences", "system"):
        assert dropped not in out


TOOLS: list[Json] = [
    {
        "name": "get_weather",
        "description": "Weather for a place",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    },
    {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
]

CHOICES: list[tuple[Json, Any, bool | None]] = [
    ({"type": "auto"}, "auto", None),
    ({"type": "any"}, "required", None),
    ({"type": "none"}, "none", None),
    ({"type": "tool", "name": "noop"}, {"type": "function", "function": {"name": "noop"}}, None),
    ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ({"type": "any", "disable_parallel_tool_use": True}, "required", False),
]


@pytest.mark.parametrize(("choice", "expected", "parallel"), CHOICES)
def test_tools_and_tool_choice(choice: Json, expected: Any, parallel: bool | None) -> None:
    out = to_chat_request(req(tools=TOOLS, tool_choice=choice), "up")
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOLS[0]["input_schema"],
                "description": "Weather for a place",
            },
        },
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    ]
    assert out["tool_choice"] == expected
    assert out.get("parallel_tool_calls") is parallel


def test_tool_round_trip_messages() -> None:
    body = {
        **BASE,
        "messages": [
            {"role": "user", "content": "weather and time?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    },
                    {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [{"type": "text", "text": "clock"}, {"type": "text", "text": "broken"}],
                    },
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    }
    messages = to_chat_request(body, "up")["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"] == "Checking."
    calls = messages[1]["tool_calls"]
    assert [c["id"] for c in calls] == ["toolu_1", "toolu_2"]
    assert all(c["type"] == "function" for c in calls)
    assert isinstance(calls[0]["function"]["arguments"], str)
    assert json.loads(calls[0]["function"]["arguments"]) == {"location": "Paris"}
    assert json.loads(calls[1]["function"]["arguments"]) == {}
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: clock\nbroken"},
        {"role": "user", "content": "thanks"},
    ]


def test_assistant_with_only_tool_calls_has_null_content() -> None:
    body = {
        **BASE,
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
        ],
    }
    messages = to_chat_request(body, "up")["messages"]
    assert messages[1]["content"] is None
    assert messages[2] == {"role": "tool", "tool_call_id": "t", "content": ""}
    assert len(messages) == 3  # no empty user message after the tool result


def test_tool_choice_without_tools_is_not_sent() -> None:
    out = to_chat_request(req(tool_choice={"type": "any"}), "up")
    assert "tools" not in out and "tool_choice" not in out
    assert to_chat_request(req(tool_choice={"type": "none"}), "up")["tool_choice"] == "none"
