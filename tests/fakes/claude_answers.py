"""The Claude answers the cloud fakes (Bedrock, Vertex AI) give: a Message, or its event list,
for an Anthropic request body, in the shapes both platforms relay from the model.

* a request with custom ``tools`` and ``tool_choice`` ``tool`` or ``any`` gets one ``tool_use``
  block (``{"city": "Paris"}``, streamed as ``input_json_delta`` fragments), ``stop_reason: tool_use``;
* a last user turn of ``tool_result`` blocks gets ``Tool said: <their text>``;
* anything else gets ``Hello, world!`` in ``TEXT_PIECES``.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.anthropic_upstream import TEXT_PIECES

Json = dict[str, Any]
TOOL_FRAGMENTS = ('{"ci', 'ty": "Pa', 'ris"}')
INPUT_TOKENS = 21


def _tool_called(body: Json) -> str | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type", "custom") == "custom"]
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") not in ("tool", "any"):
        return None
    return str(choice.get("name") or tools[0]["name"])


def _text(body: Json) -> list[str]:
    last = body["messages"][-1]
    content = last.get("content")
    if isinstance(content, list):
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            said = []
            for block in results:
                inner = block.get("content")
                said.append(inner if isinstance(inner, str) else " ".join(p.get("text", "") for p in inner or []))
            return ["Tool said: ", " ".join(said)]
    return list(TEXT_PIECES)


def message(body: Json, model: str, message_id: str) -> Json:
    tool = _tool_called(body)
    if tool is not None:
        block: Json = {"type": "tool_use", "id": "toolu_fake_1", "name": tool, "input": {"city": "Paris"}}
        content, stop, output = [block], "tool_use", len(TOOL_FRAGMENTS)
    else:
        pieces = _text(body)
        content, stop, output = [{"type": "text", "text": "".join(pieces)}], "end_turn", len(pieces)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": output},
    }


def events(body: Json, model: str, message_id: str) -> list[Json]:
    """The event list of ``message``: message_start … message_stop, as the platforms send it."""
    whole = message(body, model, message_id)
    head = {**whole, "content": [], "stop_reason": None, "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}
    out: list[Json] = [{"type": "message_start", "message": head}]
    block = whole["content"][0]
    if block["type"] == "tool_use":
        out.append({"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}})
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in TOOL_FRAGMENTS]
    else:
        out.append({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        deltas = [{"type": "text_delta", "text": p} for p in _text(body)]
    out.append({"type": "ping"})
    out += [{"type": "content_block_delta", "index": 0, "delta": d} for d in deltas]
    out.append({"type": "content_block_stop", "index": 0})
    out.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": whole["usage"]["output_tokens"]},
        }
    )
    out.append({"type": "message_stop"})
    return out
