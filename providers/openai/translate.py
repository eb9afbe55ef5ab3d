"""Pure translation between the Anthropic Messages API and OpenAI ``/chat/completions``.

No I/O here: the adapter (``providers.openai.adapter``) does HTTP and calls these functions.

Lossy choices, decided once and documented here:

* ``providers.openai.policy`` says, for every request field, role, block and tool type, whether
  it is translated, ignored (harmless to leave out) or refused with a 400 naming it;
  ``to_chat_request`` applies those refusals first (``policy.check``).
* ``system`` text blocks are joined with a blank line into one ``system`` message; a
  ``role: "system"`` message becomes a system message at its position (Claude Code sends one as
  the last message), or is left out when its ``clear_at: "next_user_message"`` has passed.
* A user turn's ``tool_result`` blocks become ``role: "tool"`` messages placed *before* the rest
  of that turn (OpenAI requires tool messages right after the assistant's ``tool_calls``; a
  system message sent between the two is moved after them). Their text is joined with newlines;
  their images follow in the turn's user message, since tool messages carry text only.
  ``is_error: true`` prefixes the content with ``"Error: "`` because OpenAI has no error flag on
  tool messages.
* ``output_config.format`` (or ``output_format``) becomes a strict ``json_schema``
  ``response_format``: an upstream that cannot enforce the schema says so with its own 400.
* ``finish_reason: "stop"`` becomes ``end_turn``: OpenAI does not say whether a requested stop
  sequence ended the text. Only when the upstream names the matched string (vLLM puts it in the
  choice's ``stop_reason``) do we answer ``stop_sequence`` with that string.
* A tool call whose ``arguments`` is not a JSON object raises ``ApiError``; an empty or blank
  ``arguments`` string (what some servers send for no-argument tools) means ``{}``.
* Missing usage is estimated at ~4 characters per token (``estimate_tokens``).
* Responses are complete Anthropic shapes (``providers.shapes``): every key the SDK's types
  declare, ``null`` or zero where OpenAI has no equivalent (``container``, ``diagnostics``,
  ``usage.inference_geo``, ``speed``, text ``citations``, tool_use ``toolset_name``; the caller is
  always ``direct``). ``completion_tokens_details.reasoning_tokens`` becomes
  ``usage.output_tokens_details.thinking_tokens``; the completion's ``service_tier`` becomes
  ``usage.service_tier`` where it has an Anthropic equivalent (``default`` -> ``standard``,
  ``priority``), else ``null``. A ``refusal`` stop carries ``stop_details`` of type ``refusal``
  with ``category`` and ``explanation`` ``null`` (OpenAI names neither).
"""

from __future__ import annotations

import math
import secrets
from typing import Any

import orjson

from providers import shapes
from providers.openai import policy
from specgate.core import deepjson
from specgate.core.errors import ApiError
from specgate.core.types import Json, SSEEvent

_FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

_CUSTOM_TOOL_TYPES = (None, "custom")

_SERVICE_TIERS: dict[str, str] = {"default": "standard", "priority": "priority"}


def _dumps(value: Any) -> str:
    return deepjson.dumps(value).decode()


def random_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters per token) used when the upstream reports no usage."""
    return math.ceil(len(text) / 4)


def estimate_input_tokens(req: Json) -> int:
    parts = [req.get("system") or "", req.get("messages") or [], req.get("tools") or []]
    return max(1, estimate_tokens(_dumps(parts)))


# ---------------------------------------------------------------- request: Anthropic -> OpenAI


def _block_text(block: Any) -> str | None:
    """The text a block contributes to a text-only message (None: it contributes nothing)."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "compaction" and isinstance(block.get("content"), str):
        return str(block["content"])  # the summary of the messages it replaces
    if kind == "search_result":
        return _text_of(block.get("content"))
    if kind == "document":
        part = _document_part(block)
        return str(part["text"]) if part is not None and part.get("type") == "text" else None
    return None


def _text_of(content: Any, sep: str = "\n") -> str:
    if isinstance(content, str):
        return content
    return sep.join(t for t in map(_block_text, content or []) if t is not None)


def _image_part(source: Json) -> Json | None:
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        return None  # file ids have no Chat Completions equivalent
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: Json) -> Json | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    if kind == "content":
        return {"type": "text", "text": _text_of(source.get("content"))}
    if kind == "base64":
        data_url = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
        name = str(block.get("title") or "document.pdf")
        return {"type": "file", "file": {"filename": name, "file_data": data_url}}
    return None  # url and file sources: refused by policy.check


def _user_part(block: Json) -> Json | None:
    kind = block.get("type")
    if kind == "image":
        return _image_part(block.get("source") or {})
    if kind == "document":
        return _document_part(block)
    text = _block_text(block)
    return None if text is None else {"type": "text", "text": text}


def _tool_message(block: Json) -> Json:
    content = _text_of(block.get("content"))
    if block.get("is_error"):
        content = f"Error: {content}" if content else "Error"
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": content}


def _tool_attachments(block: Json) -> list[Json]:
    """The parts of a tool result a tool message cannot carry (images, PDF files), labelled, for
    the user message of the same turn."""
    content = block.get("content")
    if not isinstance(content, list):
        return []
    parts = [
        part
        for b in content
        if isinstance(b, dict) and b.get("type") in ("image", "document")
        if (part := _user_part(b)) is not None and part["type"] != "text"
    ]
    if not parts:
        return []
    return [{"type": "text", "text": f"(attachments of tool result {block.get('tool_use_id', '')})"}, *parts]


def _user_messages(content: Any) -> list[Json]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[Json] = []
    parts: list[Json] = []
    for block in content or []:
        if block.get("type") == "tool_result":
            tools.append(_tool_message(block))
            parts.extend(_tool_attachments(block))
        elif (part := _user_part(block)) is not None:
            parts.append(part)
    out = list(tools)
    if len(parts) == 1 and parts[0]["type"] == "text":
        out.append({"role": "user", "content": parts[0]["text"]})
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_message(content: Any) -> Json:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[Json] = []
    for block in content or []:
        kind = block.get("type")
        if (text := _block_text(block)) is not None:
            texts.append(text)
        elif kind == "tool_use":
            function = {"name": block["name"], "arguments": _dumps(block.get("input") or {})}
            calls.append({"id": block["id"], "type": "function", "function": function})
    message: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _tools(tools: list[Json]) -> list[Json]:
    out: list[Json] = []
    for tool in tools:
        if tool.get("type") not in _CUSTOM_TOOL_TYPES:
            continue  # unreachable after policy.check, which refuses every other tool type
        function: Json = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Json) -> str | Json | None:
    kind = choice.get("type")
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}
    return None


def _shown(conversation: list[Json], index: int) -> bool:
    """Whether the ``role: "system"`` message at ``index`` is still in front of the model."""
    if conversation[index].get("clear_at") != "next_user_message":
        return True
    return not any(m.get("role") == "user" for m in conversation[index + 1 :])


def _append_user(messages: list[Json], turn: list[Json]) -> None:
    """Append a user turn's messages; its tool messages go right after the assistant's tool_calls,
    before any system message that came between (OpenAI refuses a tool message anywhere else)."""
    tools = [m for m in turn if m["role"] == "tool"]
    at = len(messages)
    while at > 0 and messages[at - 1]["role"] == "system":
        at -= 1
    if tools and 0 < at < len(messages) and messages[at - 1].get("tool_calls"):
        messages[at:at] = tools
        turn = [m for m in turn if m["role"] != "tool"]
    messages.extend(turn)


def _response_format(req: Json) -> Json | None:
    output_config = req.get("output_config")
    spec = output_config.get("format") if isinstance(output_config, dict) else None
    spec = spec or req.get("output_format")
    if not isinstance(spec, dict) or spec.get("type") != "json_schema":
        return None
    schema = spec.get("schema") or {}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema, "strict": True}}


def to_chat_request(req: Json, upstream_model: str) -> Json:
    """An Anthropic Messages request as an OpenAI ``/chat/completions`` body, or
    ``UnsupportedFieldError`` naming the first part of it the translation refuses (``policy``)."""
    policy.check(req)
    messages: list[Json] = []
    system = req.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system, "\n\n")})
    conversation: list[Json] = list(req.get("messages") or [])
    for index, message in enumerate(conversation):
        role, content = message.get("role"), message.get("content")
        if role == "assistant":
            messages.append(_assistant_message(content))
        elif role == "system":
            text = _text_of(content, "\n\n")
            if text and _shown(conversation, index):
                messages.append({"role": "system", "content": text})
        else:
            _append_user(messages, _user_messages(content))

    body: Json = {"model": upstream_model, "messages": messages}
    if "max_tokens" in req:
        body["max_tokens"] = req["max_tokens"]
    for name in ("temperature", "top_p"):
        if req.get(name) is not None:
            body[name] = req[name]
    if req.get("stop_sequences"):
        body["stop"] = list(req["stop_sequences"])
    user_id = (req.get("metadata") or {}).get("user_id")
    if user_id:
        body["user"] = user_id
    tools = _tools(req.get("tools") or [])
    if tools:
        body["tools"] = tools
    choice = req.get("tool_choice")
    if isinstance(choice, dict):
        mapped = _tool_choice(choice)
        if mapped is not None and (tools or mapped == "none"):
            body["tool_choice"] = mapped
        if choice.get("disable_parallel_tool_use") and tools:
            body["parallel_tool_calls"] = False
    response_format = _response_format(req)
    if response_format is not None:
        body["response_format"] = response_format
    if req.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


# -------------------------------------------------------------- response: OpenAI -> Anthropic


def parse_tool_arguments(arguments: Any, name: str) -> Json:
    """A tool call's ``arguments`` (JSON text) as the ``input`` object, or ``ApiError``."""
    if isinstance(arguments, dict):
        return arguments
    text = arguments if isinstance(arguments, str) else ""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"upstream tool call {name!r} has arguments that are not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(f"upstream tool call {name!r} has arguments that are not a JSON object")
    return value


def service_tier_for(openai_tier: Any) -> str | None:
    """The Anthropic ``usage.service_tier`` of an OpenAI ``service_tier`` (``null``: none matches)."""
    return _SERVICE_TIERS.get(openai_tier) if isinstance(openai_tier, str) else None


def map_usage(
    usage: Json | None, fallback_input: int = 0, fallback_output: int = 0, *, service_tier: str | None = None
) -> Json:
    """OpenAI usage as a complete Anthropic ``Usage`` (``input_tokens`` excludes cache reads, as
    Anthropic's does; reasoning tokens become ``output_tokens_details.thinking_tokens``)."""
    if not usage:
        return shapes.usage(fallback_input, fallback_output, service_tier=service_tier)
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return shapes.usage(
        max(0, prompt - cached),
        int(usage.get("completion_tokens") or 0),
        cache_read_input_tokens=cached,
        thinking_tokens=reasoning if isinstance(reasoning, int) and not isinstance(reasoning, bool) else None,
        service_tier=service_tier,
    )


def stop_details_for(stop_reason: str) -> Json | None:
    """``stop_details`` of a translated stop: a refusal of unknown category, else ``null``."""
    return {"type": "refusal", "category": None, "explanation": None} if stop_reason == "refusal" else None


def stop_reason_for(finish_reason: str | None, matched_stop: Any, has_tool_calls: bool) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI choice's finish_reason."""
    if finish_reason == "stop" and isinstance(matched_stop, str) and matched_stop:
        return "stop_sequence", matched_stop
    if has_tool_calls and finish_reason in (None, "stop"):
        return "tool_use", None  # Ollama and others answer "stop" for tool calls
    return _FINISH_TO_STOP.get(finish_reason or "stop", "end_turn"), None


def message_id_for(upstream_id: Any) -> str:
    return f"msg_{upstream_id}" if isinstance(upstream_id, str) and upstream_id else random_id("msg_")


def _reasoning(holder: Json) -> str:
    value = holder.get("reasoning_content") or holder.get("reasoning")
    return value if isinstance(value, str) else ""


def from_chat_response(resp: Json, client_model: str) -> Json:
    """An OpenAI ``chat.completion`` as a complete Anthropic Message (``providers.shapes``)."""
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ApiError("upstream chat completion has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[Json] = []
    if reasoning := _reasoning(message):
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = _text_of(text, "")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = list(message.get("tool_calls") or [])
    if message.get("function_call"):
        calls.append({"function": message["function_call"]})
    for call in calls:
        function = call.get("function") or {}
        name = str(function.get("name", ""))
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or random_id("toolu_")),
                "name": name,
                "input": parse_tool_arguments(function.get("arguments"), name),
            }
        )
    stop_reason, stop_sequence = stop_reason_for(choice.get("finish_reason"), choice.get("stop_reason"), bool(calls))
    if refusal and stop_reason == "end_turn":
        stop_reason = "refusal"
    out_text = "".join(str(b.get("text") or b.get("thinking") or _dumps(b.get("input", ""))) for b in content)
    usage = map_usage(
        resp.get("usage"), 0, max(1, estimate_tokens(out_text)), service_tier=service_tier_for(resp.get("service_tier"))
    )
    return shapes.message(
        id=message_id_for(resp.get("id")),
        model=client_model,
        content=content,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        stop_details=stop_details_for(stop_reason),
        usage=usage,
    )


# ------------------------------------------------------------------ stream: OpenAI -> Anthropic


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
            if reasoning := _reasoning(delta):
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
            fragment = _dumps(fragment)
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
