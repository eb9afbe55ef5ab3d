"""Complete Anthropic content blocks as the OpenAI translation must produce them, written out
key by key (the keys the SDK's types declare; ``tests/providers/openai/test_shapes.py`` holds
them to the SDK)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def text(value: str) -> Json:
    return {"type": "text", "text": value, "citations": None}


def tool_use(call_id: str, name: str, arguments: Json) -> Json:
    return {
        "type": "tool_use",
        "id": call_id,
        "name": name,
        "input": arguments,
        "caller": {"type": "direct"},
        "toolset_name": None,
    }


def thinking(value: str) -> Json:
    return {"type": "thinking", "thinking": value, "signature": ""}
