"""Table of bad inputs: each gets the right status, error.type and message — never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.http import request

BASE = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
TOOL = {"name": "ok_tool", "input_schema": {"type": "object"}}


def body(**changes: Any) -> bytes:
    return json.dumps({**BASE, **changes}).encode()


def without(key: str) -> bytes:
    return json.dumps({k: v for k, v in BASE.items() if k != key}).encode()


CASES: list[tuple[str, bytes, int, str, str]] = [
    ("malformed json", b'{"model": "m", ', 400, "invalid_request_error", "Invalid JSON in request body: "),
    ("json null", b"null", 400, "invalid_request_error", "body: Input should be a valid dictionary"),
    ("json array", b"[1, 2]", 400, "invalid_request_error", "body: Input should be a valid dictionary"),
    ("json string", b'"hello"', 400, "invalid_request_error", "body: Input should be a valid dictionary"),
    ("empty body", b"", 400, "invalid_request_error", "Request body is required: send a JSON object"),
    (
        "invalid utf-8",
        b'{"model": "\xff\xfe", "max_tokens": 1}',
        400,
        "invalid_request_error",
        "Invalid JSON in request body: ",
    ),
    (
        "deeply nested",
        b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        400,
        "invalid_request_error",
        "Invalid JSON in request body: ",
    ),
    (
        "nested 900 deep",
        json.dumps({**BASE, "metadata": {"user_id": json.loads("[" * 900 + "]" * 900)}}).encode(),
        400,
        "invalid_request_error",
        "metadata.user_id: Input should be a valid string or null",
    ),
    ("missing model", without("model"), 400, "invalid_request_error", "model: Field required"),
    ("missing max_tokens", without("max_tokens"), 400, "invalid_request_error", "max_tokens: Field required"),
    ("missing messages", without("messages"), 400, "invalid_request_error", "messages: Field required"),
    (
        "wrong type",
        body(max_tokens="ten"),
        400,
        "invalid_request_error",
        "max_tokens: Input should be a valid integer",
    ),
    (
        "max_tokens zero",
        body(max_tokens=0),
        400,
        "invalid_request_error",
        "max_tokens: Input should be greater than or equal to 1",
    ),
    ("unknown field", body(foo=1), 400, "invalid_request_error", "foo: Extra inputs are not permitted"),
    (
        "bad role",
        body(messages=[{"role": "tool", "content": "x"}]),
        400,
        "invalid_request_error",
        "messages.0.role: Input tag 'tool' found using 'role' does not match any of the expected tags: "
        "'user', 'assistant', 'system'",
    ),
    (
        "bad enum service_tier",
        body(service_tier="gold"),
        400,
        "invalid_request_error",
        "service_tier: Input should be 'auto' or 'standard_only'",
    ),
    (
        "temperature range",
        body(temperature=1.5),
        400,
        "invalid_request_error",
        "temperature: Input should be less than or equal to 1",
    ),
    (
        "empty messages",
        body(messages=[]),
        400,
        "invalid_request_error",
        "messages: List should have at least 1 item",
    ),
    (
        "empty text block",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.text: String should have at least 1 character",
    ),
    (
        "empty user content",
        body(messages=[{"role": "user", "content": ""}]),
        400,
        "invalid_request_error",
        "messages.0.content: String should have at least 1 character",
    ),
    (
        "no user content blocks",
        body(messages=[{"role": "user", "content": []}]),
        400,
        "invalid_request_error",
        "messages.0.content: List should have at least 1 item",
    ),
    (
        "unknown key in a block",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "x", "colour": "red"}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.colour: Extra inputs are not permitted",
    ),
    (
        "unknown key in a tool",
        body(tools=[{"name": "t", "input_schema": {"type": "object"}, "colour": "red"}]),
        400,
        "invalid_request_error",
        "tools.0.colour: Extra inputs are not permitted",
    ),
    (
        "unknown block type",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "video"}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.1.type: Input tag 'video' found using 'type' does not match",
    ),
    (
        "block without type",
        body(messages=[{"role": "user", "content": [{"text": "a"}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.type: Field required",
    ),
    (
        "image without source",
        body(messages=[{"role": "user", "content": [{"type": "image"}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0.source: Field required",
    ),
    (
        "bad image media type",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="},
                        }
                    ],
                }
            ]
        ),
        400,
        "invalid_request_error",
        "messages.0.content.0.source.media_type: Input should be",
    ),
    (
        "content wrong type",
        body(messages=[{"role": "user", "content": 5}]),
        400,
        "invalid_request_error",
        "messages.0.content: Input does not match any of the accepted forms",
    ),
    (
        "bad tool name",
        body(tools=[{"name": "bad name!", "input_schema": {"type": "object"}}]),
        400,
        "invalid_request_error",
        "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "tool schema not object",
        body(tools=[{"name": "t", "input_schema": {"type": "string"}}]),
        400,
        "invalid_request_error",
        "tools.0.input_schema.type: Input should be 'object'",
    ),
    (
        "tool_choice unknown type",
        body(tools=[TOOL], tool_choice={"type": "maybe"}),
        400,
        "invalid_request_error",
        "tool_choice.type: Input tag 'maybe' found using 'type' does not match any of the expected tags: "
        "'auto', 'any', 'tool', 'none'",
    ),
    (
        "tool_choice names unknown tool",
        body(tools=[TOOL], tool_choice={"type": "tool", "name": "other"}),
        400,
        "invalid_request_error",
        "tool_choice.name: no tool named 'other' in tools",
    ),
    (
        "budget below 1024",
        body(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 100}),
        400,
        "invalid_request_error",
        "thinking.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "budget not below max_tokens",
        body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}),
        400,
        "invalid_request_error",
        "thinking.budget_tokens: must be less than max_tokens",
    ),
    (
        "thinking without budget",
        body(thinking={"type": "enabled"}),
        400,
        "invalid_request_error",
        "thinking.budget_tokens: Field required",
    ),
    (
        "cache_control bad ttl",
        body(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]),
        400,
        "invalid_request_error",
        "system.0.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "metadata extra",
        body(metadata={"user_id": "u", "x": 1}),
        400,
        "invalid_request_error",
        "metadata.x: Extra inputs are not permitted",
    ),
    (
        "stream not bool",
        body(stream="yes"),
        400,
        "invalid_request_error",
        "stream: Input should be a valid boolean",
    ),
    (
        "huge body",
        body(messages=[{"role": "user", "content": "x" * 3_000_000}]),
        413,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes (1048576)",
    ),
]


@pytest.fixture(scope="module")
def gw() -> Any:
    from tests.support.gateway import start_gateway

    running = start_gateway({"server": {"max_body_bytes": 1048576}, "providers": [{"name": "echo", "type": "echo"}]})
    yield running
    running.stop()


@pytest.mark.parametrize(("name", "raw", "status", "etype", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("path", ["/v1/messages", "/anthropic/v1/messages"])
def test_bad_input(gw: Any, path: str, name: str, raw: bytes, status: int, etype: str, message: str) -> None:
    reply = request(gw.url + path, body=raw)
    assert reply.status == status, reply.body[:300]
    assert reply.headers["content-type"] == "application/json"
    payload = reply.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == etype
    assert payload["error"]["message"].startswith(message), payload["error"]["message"]
    assert payload["request_id"] == reply.headers["request-id"]


def test_bad_input_on_envelope_route(gw: Any) -> None:
    reply = request(gw.url + "/api/v1/messages", body=body(foo=1))
    assert reply.status == 400
    assert reply.json() == {
        "success": False,
        "code": "400",
        "message": "foo: Extra inputs are not permitted",
        "data": None,
    }
