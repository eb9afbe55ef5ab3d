"""The official anthropic SDK, unmodified, against the three native routes."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.support import faulty

ROUTES = ["", "/anthropic", "/api/anthropic"]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["location", "unit"],
    },
}


def client(base: str, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=kw.pop("api_key", "unused"), base_url=base, max_retries=0, **kw)


@pytest.mark.parametrize("prefix", ROUTES)
def test_create_and_stream_agree(gateway: Any, prefix: str) -> None:
    c = client(gateway.url + prefix)
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "You are an echo."}],
        "messages": [{"role": "user", "content": "Hello from the official SDK"}],
    }
    message = c.messages.create(**params)
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "claude-sonnet-4-6"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the official SDK"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 5
    assert message._request_id and message._request_id.startswith("req_")

    with c.messages.stream(**params) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the official SDK"
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in message.content]
    assert final.stop_reason == message.stop_reason
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.usage.output_tokens == message.usage.output_tokens


@pytest.mark.parametrize("prefix", ROUTES)
def test_tool_round_trip(gateway: Any, prefix: str) -> None:
    import jsonschema

    c = client(gateway.url + prefix)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=messages,
    )
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, WEATHER["input_schema"])

    with c.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=messages,
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[-1].input == call.input  # fragments joined back into the same object

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": [{"type": "text", "text": "18C, sunny"}],
                }
            ],
        },
    ]
    answer = c.messages.create(model="claude-sonnet-4-6", max_tokens=200, tools=[WEATHER], messages=messages)
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text" and "18C, sunny" in answer.content[0].text
    assert call.id in answer.content[0].text


def test_stop_sequences_and_max_tokens(gateway: Any) -> None:
    c = client(gateway.url)
    m = c.messages.create(
        model="m",
        max_tokens=50,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "one two STOP three"}],
    )
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == "STOP"
    assert m.content[0].text == "one two "
    m = c.messages.create(model="m", max_tokens=2, messages=[{"role": "user", "content": "one two three four"}])
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 2
    assert m.content[0].text == "one two "


@pytest.fixture
def faulty_gateway(gateway_factory: Any) -> Any:
    return gateway_factory(
        {
            "auth": {"api_keys": ["sk-good"]},
            "providers": [{"name": "echo", "type": "echo"}, {"name": "faulty", "type": "faulty"}],
            "models": [
                {"match": "fail-*", "provider": "faulty"},
                {"match": "cut-*", "provider": "faulty"},
                {"match": "claude-*", "provider": "echo"},
            ],
            "server": {"max_body_bytes": 4096},
        },
        extra_provider_types={"faulty": faulty.create},
    )


ERROR_CASES = [
    (
        dict(
            model="claude-x",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"bogus": 1},
        ),
        anthropic.BadRequestError,
        400,
        "invalid_request_error",
    ),
    (
        dict(model="nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
        anthropic.NotFoundError,
        404,
        "not_found_error",
    ),
    (
        dict(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "x" * 5000}]),
        anthropic.APIStatusError,
        413,
        "request_too_large",
    ),
    (
        dict(model="fail-429", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
        anthropic.RateLimitError,
        429,
        "rate_limit_error",
    ),
    (
        dict(model="fail-500", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
        anthropic.InternalServerError,
        500,
        "api_error",
    ),
    (
        dict(model="fail-529", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
        anthropic.OverloadedError,
        529,
        "overloaded_error",
    ),
    (
        dict(model="fail-403", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
        anthropic.PermissionDeniedError,
        403,
        "permission_error",
    ),
]


@pytest.mark.parametrize("prefix", ROUTES)
@pytest.mark.parametrize(("params", "exc_type", "status", "etype"), ERROR_CASES)
def test_errors_raise_sdk_classes(
    faulty_gateway: Any, prefix: str, params: dict[str, Any], exc_type: type, status: int, etype: str
) -> None:
    c = client(faulty_gateway.url + prefix, api_key="sk-good")
    with pytest.raises(exc_type) as info:
        c.messages.create(**params)
    err = info.value
    assert isinstance(err, anthropic.APIStatusError)
    assert err.status_code == status
    assert err.type == etype if hasattr(err, "type") else err.body["error"]["type"] == etype
    assert err.body["error"]["type"] == etype
    assert err.request_id and err.request_id.startswith("req_")
    assert err.body["request_id"] == err.request_id


def test_bad_key_raises_authentication_error(faulty_gateway: Any) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(faulty_gateway.url, api_key="sk-wrong").messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.body["error"]["type"] == "authentication_error"
    assert "sk-wrong" not in str(info.value.body)


def test_error_after_stream_started_is_an_error_event(faulty_gateway: Any) -> None:
    c = client(faulty_gateway.url, api_key="sk-good")
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        c.messages.stream(model="cut-4", max_tokens=50, messages=[{"role": "user", "content": "a b c d e f"}]) as s,
    ):
        for _ in s.text_stream:
            pass
    assert info.value.body["error"]["type"] == "overloaded_error"
