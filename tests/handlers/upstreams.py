"""Shared pieces of the gateway-to-upstream tests: a config whose providers point at the fake
upstreams, the official SDK client, and Anthropic upstream answers written out by hand.

The fakes run in the test's event loop and the gateway in its own thread, so these tests are
async and use ``anthropic.AsyncAnthropic`` (the sync client would block the fakes' loop)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anthropic

from tests.fakes.server import Reply

CLIENT_KEY = "sk-client-secret-0123456789"
Json = dict[str, Any]

# timeouts and backoffs small enough for fast tests
FAST: Json = {
    "timeout_s": 5,
    "connect_timeout_s": 1,
    "read_timeout_s": 2,
    "max_retries": 2,
    "retry_backoff_s": 0.01,
    "retry_backoff_max_s": 0.05,
}


def config(
    anthropic_url: str,
    openai_url: str,
    *,
    ant: Json | None = None,
    oai: Json | None = None,
    models: Sequence[Json] = (),
) -> Json:
    """Provider ``ant`` (type anthropic) and ``oai`` (type openai), and these client models:

    ``ant-model`` -> ant as ``claude-upstream``; ``oai-text`` / ``oai-tools`` / ``oai-reasoning``
    -> oai as the fake's ``fake-text`` / ``fake-tools`` / ``fake-reasoning`` scenario."""
    return {
        "auth": {"api_keys": [CLIENT_KEY]},
        "providers": [
            {
                "name": "ant",
                "type": "anthropic",
                "base_url": anthropic_url,
                "api_keys": ["ant-key-1"],
                **FAST,
                **(ant or {}),
            },
            {
                "name": "oai",
                "type": "openai",
                "base_url": openai_url + "/v1",
                "api_keys": ["oai-key-1"],
                **FAST,
                **(oai or {}),
            },
        ],
        "models": [
            *models,
            {"match": "ant-model", "provider": "ant", "upstream_model": "claude-upstream"},
            {"match": "oai-text", "provider": "oai", "upstream_model": "fake-text"},
            {"match": "oai-tools", "provider": "oai", "upstream_model": "fake-tools"},
            {"match": "oai-reasoning", "provider": "oai", "upstream_model": "fake-reasoning"},
        ],
    }


def sdk(gateway_url: str, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=gateway_url + "/anthropic", api_key=CLIENT_KEY, max_retries=0, timeout=20, **kw
    )


# -- Anthropic upstream answers equivalent to the OpenAI fake's scenarios (after translation)

DIRECT: Json = {"type": "direct"}
USAGE: Json = {"input_tokens": 20, "output_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10}
TOOL_CALLS: list[Json] = [  # with the caller the real API sends (the SDK's tool_use_response.txt fixture)
    {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"location": "Paris"}, "caller": DIRECT},
    {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"tz": "CET"}, "caller": DIRECT},
]
TOOLS: list[Json] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
]


def message(
    content: list[Json], stop_reason: str, stop_sequence: str | None = None, *, model: str = "claude-upstream"
) -> Json:
    return {
        "id": "msg_up_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": USAGE,
    }


def json_reply(msg: Json) -> Reply:
    return Reply(200, msg, {"request-id": "req_up_json"})


def _frame(event: str, data: Json) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def sse_reply(msg: Json, piece: int = 5) -> Reply:
    """``msg`` as an Anthropic SSE body: text in ``piece``-character deltas, tool input JSON in
    ``piece``-character fragments (so arguments arrive split mid-token)."""
    head = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
    head["usage"] = {**msg["usage"], "output_tokens": 1}
    frames = [_frame("message_start", {"type": "message_start", "message": head})]
    for index, block in enumerate(msg["content"]):
        if block["type"] == "text":
            start: Json = {"type": "text", "text": ""}
            text = block["text"]
            deltas = [{"type": "text_delta", "text": text[i : i + piece]} for i in range(0, len(text), piece)]
        else:
            start = {**block, "input": {}}
            raw = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": raw[i : i + piece]} for i in range(0, len(raw), piece)
            ]
        frames.append(
            _frame("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        if index == 0:
            frames.append(_frame("ping", {"type": "ping"}))
        for delta in deltas:
            frames.append(
                _frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        frames.append(_frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": msg["stop_reason"], "stop_sequence": msg["stop_sequence"]}
    frames.append(_frame("message_delta", {"type": "message_delta", "delta": delta, "usage": msg["usage"]}))
    frames.append(_frame("message_stop", {"type": "message_stop"}))
    return Reply(200, b"".join(frames), {"content-type": "text/event-stream", "request-id": "req_up_sse"})


def leaked(recorded_headers: dict[str, str]) -> list[str]:
    """Header names whose value carries the client's own key."""
    return [name for name, value in recorded_headers.items() if CLIENT_KEY in value]
