"""OpenAI ``chat.completion.chunk`` stream -> Anthropic SSE events (``ChatStreamTranslator``)."""

from __future__ import annotations

import math
from typing import Any

from providers import shapes
from providers.openai.translate.common import dumps, random_id
from providers.openai.translate.response import (
    map_usage,
    reasoning_text,
    service_tier_for,
    stop_details_for,
    stop_reason_for,
)
from specgate.core.errors import ApiError
from specgate.core.types import Json, SSEEvent


def _event(name: str, **fields: Any) -> SSEEvent:
    return SSEEvent(name, {"type": name, **fields})


class _ToolCall:
    __slots__ = ("block_index", "closed", "id", "name", "pending")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.pending: list[str] = []  # argument fragments seen before the block could open
        self.block_index: int | None = None
        self.closed = False


class ChatStreamTranslator:
    """OpenAI ``chat.completion.chunk`` objects in, the exact Anthropic event grammar out.

    ``feed`` every parsed chunk, then ``finish(done=True)`` after ``data: [DONE]`` (or
    ``finish()`` at end of body). Blocks are never interleaved: starting a different block
    closes the open one, so a tool call's fragments must arrive before the next block starts
    (as every OpenAI-compatible server sends them); a fragment for a closed tool call raises
    ``ApiError``. Usage comes from the ``include_usage`` chunk; without one, output tokens are
    estimated from the streamed characters (``estimate_tokens``) and input tokens keep the
    estimate given at construction. Every event carries the keys the SDK's types declare
    (``providers.shapes``): ``message_start.message`` is a complete Message, each
    ``content_block_start`` a complete block, ``message_delta`` a ``MessageDeltaUsage``.
    """

    def __init__(self, client_model: str, message_id: str, input_tokens_estimate: int = 0) -> None:
        self._model = client_model
        self._message_id = message_id
        self._input_estimate = input_tokens_estimate
        self._started = False
        self._next_index = 0
        self._open: tuple[str, Any] | None = None  # ("text"|"thinking", None) or ("tool", tool index)
        self._open_index = 0
        self._pinged = False
        self._tools: dict[int, _ToolCall] = {}
        self._finish_reason: str | None = None
        self._matched_stop: Any = None
        self._usage: Json | None = None
        self._service_tier: str | None = None
        self._streamed_chars = 0
        self._finished = False

    # -- public

    def feed(self, chunk: Json) -> list[SSEEvent]:
        if self._finished:
            raise ApiError("upstream sent data after the end of the stream")
        if isinstance(chunk.get("service_tier"), str):
            self._service_tier = service_tier_for(chunk["service_tier"])
        events = self._ensure_started()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # n > 1 is never requested; ignore other choices
            delta = choice.get("delta") or {}
            if reasoning := reasoning_text(delta):
                events += self._append("thinking", "thinking_delta", "thinking", reasoning)
            text = delta.get("content")
            if isinstance(text, str) and text:
                events += self._append("text", "text_delta", "text", text)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                events += self._append("text", "text_delta", "text", refusal)
                self._finish_reason = self._finish_reason or "content_filter"
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(call)
            if delta.get("function_call"):
                events += self._tool_delta({"index": 0, "function": delta["function_call"]})
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
                self._matched_stop = choice.get("stop_reason")
        return events

    def finish(self, done: bool = False) -> list[SSEEvent]:
        """Close the message. ``done``: the upstream sent ``[DONE]``. Without it and without a
        finish_reason the upstream stream was cut, which raises ``ApiError``."""
        if self._finished:
            return []
        if not done and self._finish_reason is None:
            raise ApiError("upstream stream ended prematurely (no finish_reason and no [DONE])")
        nameless = [index for index, tool in self._tools.items() if tool.block_index is None]
        if nameless:
            raise ApiError(f"upstream tool call {nameless[0]} never received a function name")
        events = self._ensure_started()
        events += self._close_open()
        self._finished = True
        stop_reason, stop_sequence = stop_reason_for(self._finish_reason, self._matched_stop, bool(self._tools))
        if self._finish_reason == "content_filter":
            stop_reason = "refusal"
        usage = map_usage(
            self._usage,
            self._input_estimate,
            max(1, math.ceil(self._streamed_chars / 4)),
            service_tier=self._service_tier,
        )
        finished = {
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "stop_details": stop_details_for(stop_reason),
            "usage": usage,
        }
        events.append(SSEEvent("message_delta", shapes.message_delta(finished)))
        events.append(_event("message_stop"))
        return events

    # -- internals

    def _ensure_started(self) -> list[SSEEvent]:
        if self._started:
            return []
        self._started = True
        message = shapes.message(
            id=self._message_id,
            model=self._model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=shapes.usage(self._input_estimate, 1, service_tier=self._service_tier),
        )
        return [_event("message_start", message=message)]

    def _open_block(self, key: tuple[str, Any], block: Json) -> list[SSEEvent]:
        events = self._close_open()
        self._open, self._open_index = key, self._next_index
        self._next_index += 1
        events.append(_event("content_block_start", index=self._open_index, content_block=shapes.complete_block(block)))
        if not self._pinged:
            self._pinged = True
            events.append(_event("ping"))
        return events

    def _close_open(self) -> list[SSEEvent]:
        if self._open is None:
            return []
        events: list[SSEEvent] = []
        kind, tool_index = self._open
        if kind == "thinking":
            events.append(self._delta({"type": "signature_delta", "signature": ""}))
        elif kind == "tool":
            self._tools[tool_index].closed = True
        events.append(_event("content_block_stop", index=self._open_index))
        self._open = None
        return events

    def _delta(self, delta: Json) -> SSEEvent:
        return _event("content_block_delta", index=self._open_index, delta=delta)

    def _append(self, kind: str, delta_type: str, field: str, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._open != (kind, None):
            start: Json = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            events += self._open_block((kind, None), start)
        self._streamed_chars += len(text)
        events.append(self._delta({"type": delta_type, field: text}))
        return events

    def _tool_delta(self, call: Json) -> list[SSEEvent]:
        index = int(call.get("index", 0))
        tool = self._tools.setdefault(index, _ToolCall())
        function = call.get("function") or {}
        if call.get("id"):
            tool.id = tool.id or str(call["id"])
        if function.get("name"):
            tool.name = tool.name or str(function["name"])
        fragment = function.get("arguments")
        if isinstance(fragment, dict):  # some servers send the parsed object whole
            fragment = dumps(fragment)
        if tool.closed:
            if fragment:
                raise ApiError(f"upstream interleaved arguments of tool call {index} after another block began")
            return []
        events: list[SSEEvent] = []
        if fragment:
            tool.pending.append(str(fragment))
            self._streamed_chars += len(fragment)
        if self._open != ("tool", index):
            if not tool.name:
                return events  # cannot open a tool_use block without its name; keep buffering
            tool.block_index = self._next_index
            block = {"type": "tool_use", "id": tool.id or random_id("toolu_"), "name": tool.name, "input": {}}
            tool.id = str(block["id"])
            events += self._open_block(("tool", index), block)
        pending = "".join(tool.pending)
        tool.pending.clear()
        if pending:  # never an empty partial_json (real Anthropic streams never send one either)
            events.append(self._delta({"type": "input_json_delta", "partial_json": pending}))
        return events
