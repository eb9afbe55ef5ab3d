"""The ``echo`` provider: offline and deterministic, for development and contract tests.

What it answers (documented in the README):

* Text: the text of the last user message, verbatim (or a one-line description of its blocks when
  it has no text). ``stop_sequences`` cut the reply before the earliest match (stop_reason
  ``stop_sequence``), ``max_tokens`` truncates it (stop_reason ``max_tokens``).
* Tools: it calls a tool only when asked unambiguously, never because a tool's name appears in
  the conversation (clients such as Claude Code name their tools in every prompt):

  - ``tool_choice: {"type": "tool", "name": N}`` calls ``N``;
  - the directive ``/tool NAME[,NAME...] [rest]`` at the start of the last text block of the last
    user message calls those custom tools (with ``tool_choice`` ``auto``, absent or ``any``; a
    name that is not a declared custom tool is a 400 naming the message). ``rest`` seeds the
    sample input;
  - ``tool_choice: {"type": "any"}`` without the directive calls the first custom tool;
  - ``tool_choice: {"type": "none"}``, or no custom tools, never calls one (the directive is then
    plain text and is echoed).

  Each ``tool_use`` block's ``input`` is valid against that tool's ``input_schema`` (stop_reason
  ``tool_use``); ``disable_parallel_tool_use`` keeps the first. A user turn with ``tool_result``
  blocks is answered with text that quotes the results.
* Structured output: with ``output_config.format`` (or ``output_format``) ``json_schema`` the text
  is a JSON instance of that schema (``providers.schema_sample``), seeded by the last user text.
* Fields it cannot honour: ``compaction`` (a request for a compaction block) is a 400; hints that
  do not change what a reply means (``context_management``, ``cache_control``, ``diagnostics``,
  ``service_tier``, ``speed``, ``inference_geo``, ``metadata``, ``mcp_servers``, ``container``,
  ``thread``: echo runs no tools and keeps no state) are ignored.
* Thinking: with ``thinking.type: enabled`` a short thinking block (with a signature) comes first.
* Usage: ``providers.tokens`` approximate counts, identical for JSON and streaming.
* Shape: complete Messages and events (``providers.shapes``): every key the official types declare,
  ``null`` or zero where empty (``container``, ``stop_details``, ``diagnostics``,
  ``usage.cache_creation``, ``usage.server_tool_use``, ``usage.output_tokens_details``, …).

Options (config ``options``): ``token_delay_ms`` paces streamed deltas and ``response_delay_ms``
delays a non-streamed answer, to imitate a slow model.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from providers.base import CallContext
from providers.events import message_to_events
from providers.schema_sample import sample
from providers.shapes import message, usage
from providers.tokens import count_text, estimate_input_tokens, split_tokens
from specgate.core.config import ProviderConfig
from specgate.core.errors import InvalidRequestError
from specgate.core.types import Json, SSEEvent


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


TOOL_DIRECTIVE = "/tool"
_DIRECTIVE_RE = re.compile(
    r"\A\s*/tool[ \t]+([a-zA-Z0-9_-]{1,128}(?:[ \t]*,[ \t]*[a-zA-Z0-9_-]{1,128})*)(?:\s+(.*))?\Z", re.S
)


def _last_text_block(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = [str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]
    return texts[-1] if texts else ""


def tool_directive(content: Any) -> tuple[list[str], str] | None:
    """The tool names and the rest of a ``/tool NAME[,NAME...] [rest]`` directive that starts the
    last text block of ``content`` (a user message's content), or None."""
    found = _DIRECTIVE_RE.match(_last_text_block(content))
    if found is None:
        return None
    names = [n.strip() for n in found.group(1).split(",")]
    return list(dict.fromkeys(names)), (found.group(2) or "").strip()


def _support(supported: bool) -> Json:
    return {"supported": supported}


def echo_capabilities() -> Json:
    """``ModelInfo.capabilities`` of an echo model: what echo really does with a request. It
    accepts images and PDFs (and describes them), thinks when ``thinking.type`` is ``enabled``,
    and its requests can be batched (the gateway runs batches); it ignores context management and
    effort, and runs no server tool, citation or structured output."""
    return {
        "batch": _support(True),
        "citations": _support(False),
        "code_execution": _support(False),
        "context_management": {
            "supported": False,
            "clear_thinking_20251015": _support(False),
            "clear_tool_uses_20250919": _support(False),
            "compact_20260112": _support(False),
        },
        "effort": {
            "supported": False,
            **{level: _support(False) for level in ("low", "medium", "high", "max", "xhigh")},
        },
        "image_input": _support(True),
        "pdf_input": _support(True),
        "server_tools": {"supported": False, "code_execution": _support(False), "web_search": _support(False)},
        "structured_outputs": _support(False),
        "thinking": {
            "supported": True,
            "types": {
                "enabled": _support(True),
                "disabled": _support(True),
                "adaptive": _support(False),
                "between_tools": _support(False),
            },
        },
    }


def output_schema(request: Json) -> Any:
    """The JSON schema of a structured-output request (``output_config.format`` or the beta
    ``output_format``), or None."""
    config = request.get("output_config") or {}
    fmt = (config.get("format") if isinstance(config, dict) else None) or request.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def custom_tools(request: Mapping[str, Any]) -> list[Json]:
    """The tools echo can call: custom tools (with an ``input_schema``)."""
    tools = request.get("tools")
    return [
        t
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict) and "input_schema" in t and t.get("type") in (None, "custom")
    ]


def refusal(request: Mapping[str, Any]) -> str | None:
    """Why echo answers a valid request with a 400 (what the README says it cannot honour), or None.
    The fuzzers ask the same function (``specgate.fuzz.cases``), so they expect exactly these."""
    if request.get("compaction") is not None:  # a request for a compaction block, not a reply
        return "compaction: the echo provider cannot summarise a conversation into a compaction block"
    choice = request.get("tool_choice")
    tools = custom_tools(request)
    named = choice.get("name") if isinstance(choice, Mapping) and choice.get("type") == "tool" else None
    if named is not None and tools and not any(t.get("name") == named for t in tools):
        return f"tool_choice.name: no tool named {named!r} in tools"
    return None


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

    def model_capabilities(self) -> Json:
        return echo_capabilities()

    def compose(self, request: Json, model: str) -> Json:
        """The complete Message this provider answers to ``request`` (pure apart from the id)."""
        refused = refusal(request)
        if refused is not None:
            raise InvalidRequestError(refused)
        messages = request.get("messages") or []
        last_index = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), None)
        content = messages[last_index].get("content") if last_index is not None else ""
        max_tokens = int(request.get("max_tokens", 1))
        blocks: list[Json] = []
        used = 0
        thinking_tokens: int | None = None
        thinking = request.get("thinking") or {}
        if thinking.get("type") == "enabled":
            thought = "The user asked me to echo their last message."
            blocks.append({"type": "thinking", "thinking": thought, "signature": _stable_id("sig", thought)})
            thinking_tokens = count_text(thought)
            used += thinking_tokens

        reply = _tool_results_reply(content) if isinstance(content, list) else None
        calls = [] if reply is not None else self._tool_calls(request, content, last_index)
        call_tokens = sum(count_text(c["name"]) + count_text(str(c["input"])) for c in calls)
        stop_sequence: str | None = None
        if calls and used + call_tokens <= max_tokens:
            blocks.extend(calls)
            used += call_tokens
            stop_reason = "tool_use"
        else:
            text = reply if reply is not None else (_text_of(content) or _describe_blocks(content))
            schema = output_schema(request)
            if schema is not None:  # structured output: an instance of the schema, seeded by the text
                text = orjson.dumps(sample(schema, hint=text.strip().split("\n")[0][:64] or "echo")).decode()
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
        return message(
            id=f"msg_{secrets.token_hex(12)}",
            model=model,
            content=blocks,
            stop_reason=stop_reason,
            stop_sequence=stop_sequence,
            usage=usage(estimate_input_tokens(request), max(used, 1), thinking_tokens=thinking_tokens or 0),
        )

    def _tool_calls(self, request: Json, content: Any, message_index: int | None) -> list[Json]:
        tools = custom_tools(request)
        choice = request.get("tool_choice") or {"type": "auto"}
        if not tools or choice.get("type") == "none":
            return []
        directive = tool_directive(content)
        text = _text_of(content)
        hint = (text.strip().split("\n")[0][:64] or "echo") if text else "echo"
        if choice.get("type") == "tool":
            chosen = [t for t in tools if t["name"] == choice.get("name")]  # refusal() saw it is there
        elif directive is not None:
            names, rest = directive
            by_name = {t["name"]: t for t in tools}
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise InvalidRequestError(
                    f"messages.{message_index}.content: the echo directive {TOOL_DIRECTIVE} names "
                    f"{unknown[0]!r}, which is not a custom tool in tools ({', '.join(sorted(by_name))})"
                )
            chosen = [by_name[n] for n in names]
            hint = rest.split("\n")[0][:64] or "echo"
        elif choice.get("type") == "any":
            chosen = tools[:1]
        else:
            return []
        if choice.get("disable_parallel_tool_use"):
            chosen = chosen[:1]
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
