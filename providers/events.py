"""Pure conversions between a complete Message and the Anthropic stream event grammar.

``message_to_events`` emits exactly: message_start, then per block content_block_start /
deltas / content_block_stop (a ping after the first start), message_delta with the cumulative
usage, message_stop. Every event carries the keys the official types declare (``providers.shapes``):
``message_start.message`` is a complete Message, ``message_delta`` has ``delta.stop_details`` and
``delta.container`` and a ``MessageDeltaUsage`` (no ``service_tier``). ``accumulate`` rebuilds the
Message from events (used by tests and by callers that need a whole message from a stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from providers.shapes import complete_message, message_delta
from providers.tokens import split_tokens
from specgate.core import deepjson
from specgate.core.types import Json, SSEEvent


def _start_block(block: Json) -> Json:
    kind = block.get("type")
    if kind == "text":
        return {**block, "text": "", "citations": None if block.get("citations") is None else []}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind in ("tool_use", "server_tool_use"):
        return {**block, "input": {}}
    return block  # redacted_thinking and tool results arrive whole in the start event


def _json_fragments(value: Any, size: int = 12) -> list[str]:
    text = deepjson.dumps(value).decode()
    return [text[i : i + size] for i in range(0, len(text), size)] if value else []


def block_deltas(block: Json) -> Iterator[Json]:
    kind = block.get("type")
    if kind == "text":
        for piece in split_tokens(str(block.get("text", ""))):
            yield {"type": "text_delta", "text": piece}
    elif kind == "thinking":
        for piece in split_tokens(str(block.get("thinking", ""))):
            yield {"type": "thinking_delta", "thinking": piece}
        yield {"type": "signature_delta", "signature": str(block.get("signature", ""))}
    elif kind in ("tool_use", "server_tool_use"):
        for fragment in _json_fragments(block.get("input") or {}):
            yield {"type": "input_json_delta", "partial_json": fragment}


def message_to_events(message: Json) -> Iterator[SSEEvent]:
    """The stream of the complete ``message`` (keys it lacks are completed, see ``providers.shapes``)."""
    message = complete_message(message)
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    if isinstance(start_usage.get("output_tokens_details"), dict):  # nothing generated yet
        start_usage["output_tokens_details"] = {k: 0 for k in start_usage["output_tokens_details"]}
    head = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": start_usage,
    }
    yield SSEEvent("message_start", {"type": "message_start", "message": head})
    for index, block in enumerate(message["content"]):
        yield SSEEvent(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": _start_block(block)},
        )
        if index == 0:
            yield SSEEvent("ping", {"type": "ping"})
        for delta in block_deltas(block):
            yield SSEEvent("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield SSEEvent("content_block_stop", {"type": "content_block_stop", "index": index})
    yield SSEEvent("message_delta", message_delta(message))
    yield SSEEvent("message_stop", {"type": "message_stop"})


def accumulate(events: list[SSEEvent] | list[Json]) -> Json:
    """Rebuild the Message a stream describes (partial JSON of tool input joined and parsed)."""
    message: Json = {}
    partial: dict[int, str] = {}
    for item in events:
        data = item.data if isinstance(item, SSEEvent) else item
        kind = data.get("type")
        if kind == "message_start":
            message = {**data["message"], "content": []}
        elif kind == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            block = message["content"][data["index"]]
            delta = data["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif dtype == "signature_delta":
                block["signature"] = delta["signature"]
            elif dtype == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop":
            if data["index"] in partial:
                message["content"][data["index"]]["input"] = orjson.loads(partial.pop(data["index"]))
        elif kind == "message_delta":
            message.update(data.get("delta") or {})
            message["usage"] = {**message.get("usage", {}), **(data.get("usage") or {})}
    return message
