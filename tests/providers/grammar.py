"""A strict checker of the Anthropic stream grammar for provider tests: asserts the event order
rules of anthropic-api.md §4 and rebuilds the Message the events describe."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from specgate.core.types import SSEEvent

Json = dict[str, Any]


def check_stream(events: Sequence[SSEEvent]) -> Json:
    """Assert the exact grammar and return the accumulated Message (tool inputs parsed)."""
    names = [e.event for e in events]
    for e in events:
        assert e.data.get("type") == e.event, f"data.type {e.data.get('type')!r} != event {e.event!r}"
    assert names[0] == "message_start", names
    assert names.count("message_start") == 1, names
    assert names[-1] == "message_stop" and names.count("message_stop") == 1, names
    assert names[-2] == "message_delta", names
    message: Json = dict(events[0].data["message"])
    assert message["content"] == [] and "usage" in message and "output_tokens" in message["usage"]
    content: list[Json] = []
    partial: dict[int, str] = {}
    open_index: int | None = None
    signed = False
    first_start = names.index("content_block_start") if "content_block_start" in names else None
    if first_start is not None:
        assert names[first_start + 1] == "ping", "a ping follows the first content_block_start"
    for e in events[1:-2]:
        d = e.data
        if e.event == "ping":
            continue
        if e.event == "content_block_start":
            assert open_index is None, "blocks must not interleave"
            assert d["index"] == len(content), f"index {d['index']} out of order"
            open_index = d["index"]
            content.append(dict(d["content_block"]))
            signed = False
        elif e.event == "content_block_delta":
            assert d["index"] == open_index, "delta for a block that is not open"
            block, delta = content[d["index"]], d["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                assert block["type"] == "text"
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                assert block["type"] == "thinking" and not signed
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                assert block["type"] == "thinking"
                block["signature"] = delta["signature"]
                signed = True
            elif kind == "input_json_delta":
                assert block["type"] == "tool_use"
                assert delta["partial_json"] != "", "empty input_json_delta"
                partial[d["index"]] = partial.get(d["index"], "") + delta["partial_json"]
            else:
                raise AssertionError(f"unknown delta {kind}")
        elif e.event == "content_block_stop":
            assert open_index is not None and d["index"] == open_index
            if content[open_index]["type"] == "thinking":
                assert signed, "thinking block closed without signature_delta"
            open_index = None
        else:
            raise AssertionError(f"unexpected event {e.event} inside the message")
    assert open_index is None, "a block was left open"
    for index, text in partial.items():
        content[index]["input"] = json.loads(text)
    final = events[-2].data
    assert "output_tokens" in final["usage"]
    message.update(content=content, **final["delta"])
    message["usage"] = {**message["usage"], **final["usage"]}
    return message
