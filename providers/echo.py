"""The ``echo`` provider: offline and deterministic, for development and contract tests.

What it answers (documented in the README):

* Text: the text of the last user message, verbatim (or a one-line description of its blocks when
  it has no text). ``stop_sequences`` cut the reply before the earliest match (stop_reason
  ``stop_sequence``), ``max_tokens`` truncates it (stop_reason ``max_tokens``).
* Tools: with ``tool_choice`` ``any``/``tool``, or when the last user text names a tool, it answers
  with ``tool_use`` blocks whose ``input`` is valid against that tool's ``input_schema``
  (stop_reason ``tool_use``). A user turn with ``tool_result`` blocks is answered with text that
  quotes the results.
* Thinking: with ``thinking.type: enabled`` a short thinking block (with a signature) comes first.
* Usage: ``providers.tokens`` approximate counts, identical for JSON and streaming.

Options (config ``options``): ``token_delay_ms`` paces streamed deltas and ``response_delay_ms``
delays a non-streamed answer, to imitate a slow model.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from providers.base import CallContext, Json, ProviderConfig, SSEEvent
from providers.events import message_to_events
from providers.schema_sample import sample
from providers.tokens import count_text, estimate_input_tokens, split_tokens
from specgate.errors import InvalidRequestError


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(p for p in parts if p)


def _describe_blocks(content: Any) -> str:
    kinds = [str(b.get("type")) for b in content or [] if isinstance(b, dict)]
    return f"(received {len(kinds)} content block{'s' if len(kinds) != 1 else ''}: {', '.join(kinds)})"


def _tool_results_reply(content: list[Json]) -> str | None:
    lines = []
    for block in content:
        if block.get("type") != "tool_result":
            continue
        result = block.get("content")
        text = _text_of(result) if isinstance(result, list) else str(result or "")
        label = "error" if block.get("is_error") else "result"
        lines.append(f"Tool {label} for {block.get('tool_use_id')}: {text}".rstrip())
    return "\n".join(lines) if lines else None


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


class EchoProvider:
    type = "echo"

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self._delay = float(config.options.get("token_delay_ms", 0)) / 1000.0
        self._response_delay = float(config.options.get("response_delay_ms", 0)) / 1000.0
        self.generations = 0  # how many messages it generated (tests assert "no generation")
        self.open_streams = 0  # streams being generated right now (a disconnect must end them)

    async def aclose(self) -> None:
        return None

    def compose(self, request: Json, model: str) -> Json:
        """The complete Message this provider answers to ``request`` (pure apart from the id)."""
        messages = request.get("messages") or []
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        content = last_user.get("content") if last_user else ""
        max_tokens = int(request.get("max_tokens", 1))
        blocks: list[Json] = []
        used = 0
        thinking = request.get("thinking") or {}
        if thinking.get("type") == "enabled":
            thought = "The user asked me to echo their last message."
            blocks.append({"type": "thinking", "thinking": thought, "signature": _stable_id("sig", thought)})
            used += count_text(thought)

        reply = _tool_results_reply(content) if isinstance(content, list) else None
        calls = [] if reply is not None else self._tool_calls(request, _text_of(content))
        call_tokens = sum(count_text(c["name"]) + count_text(str(c["input"])) for c in calls)
        stop_sequence: str | None = None
        if calls and used + call_tokens <= max_tokens:
            blocks.extend(calls)
            used += call_tokens
            stop_reason = "tool_use"
        else:
            text = reply if reply is not None else (_text_of(content) or _describe_blocks(content))
            stop_reason = "end_turn"
            hits = [(text.find(s), s) for s in request.get("stop_sequences") or [] if s and s in text]
            if hits:
                cut, stop_sequence = min(hits)
                text, stop_reason = text[:cut], "stop_sequence"
            tokens = split_tokens(text)
            room = max(max_tokens - used, 0)
            if len(tokens) > room:
                text, stop_reason, stop_sequence = "".join(tokens[:room]), "max_tokens", None
                tokens = tokens[:room]
            blocks.append({"type": "text", "text": text})
            used += len(tokens)
        self.generations += 1
        return {
            "id": f"msg_{secrets.token_hex(12)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {
                "input_tokens": estimate_input_tokens(request),
                "output_tokens": max(used, 1),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    def _tool_calls(self, request: Json, text: str) -> list[Json]:
        tools = [t for t in request.get("tools") or [] if "input_schema" in t and t.get("type") in (None, "custom")]
        choice = request.get("tool_choice") or {"type": "auto"}
        if not tools or choice.get("type") == "none":
            return []
        if choice.get("type") == "tool":
            chosen = [t for t in tools if t["name"] == choice.get("name")]
            if not chosen:
                raise InvalidRequestError(f"tool_choice.name: no tool named {choice.get('name')!r} in tools")
        else:
            chosen = [t for t in tools if re.search(rf"(?<![\w-]){re.escape(t['name'])}(?![\w-])", text)]
            if not chosen and choice.get("type") == "any":
                chosen = tools[:1]
        if choice.get("disable_parallel_tool_use"):
            chosen = chosen[:1]
        hint = (text.strip().split("\n")[0][:64] or "echo") if text else "echo"
        return [
            {
                "type": "tool_use",
                "id": _stable_id("toolu", str(i), t["name"], text),
                "name": t["name"],
                "input": sample(t.get("input_schema") or {}, hint=hint),
            }
            for i, t in enumerate(chosen)
        ]

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        if self._response_delay:
            await asyncio.sleep(self._response_delay)
        return self.compose(request, str(request.get("model", upstream_model)))

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        message = self.compose(request, str(request.get("model", upstream_model)))
        self.open_streams += 1
        try:
            for event in message_to_events(message):
                if self._delay and event.event == "content_block_delta":
                    await asyncio.sleep(self._delay)
                yield event
        finally:
            self.open_streams -= 1


def create(config: ProviderConfig) -> EchoProvider:
    return EchoProvider(config)
