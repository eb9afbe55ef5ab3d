"""Anthropic Messages request -> OpenAI ``/chat/completions`` body (``to_chat_request``).

``providers.openai.policy`` refuses what cannot be translated first; the rest is mapped here
(see the package docstring for the lossy choices: system messages, tool results, output format).
"""

from __future__ import annotations

from typing import Any

from providers.openai.policy import check as check_policy
from providers.openai.translate.common import block_text, document_part, dumps, text_of
from specgate.core.types import Json

_CUSTOM_TOOL_TYPES = (None, "custom")


def _image_part(source: Json) -> Json | None:
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        return None  # file ids have no Chat Completions equivalent
    return {"type": "image_url", "image_url": {"url": url}}


def _user_part(block: Json) -> Json | None:
    kind = block.get("type")
    if kind == "image":
        return _image_part(block.get("source") or {})
    if kind == "document":
        return document_part(block)
    text = block_text(block)
    return None if text is None else {"type": "text", "text": text}


def _tool_message(block: Json) -> Json:
    content = text_of(block.get("content"))
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
        if (text := block_text(block)) is not None:
            texts.append(text)
        elif kind == "tool_use":
            function = {"name": block["name"], "arguments": dumps(block.get("input") or {})}
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
    check_policy(req)
    messages: list[Json] = []
    system = req.get("system")
    if system:
        messages.append({"role": "system", "content": text_of(system, "\n\n")})
    conversation: list[Json] = list(req.get("messages") or [])
    for index, message in enumerate(conversation):
        role, content = message.get("role"), message.get("content")
        if role == "assistant":
            messages.append(_assistant_message(content))
        elif role == "system":
            text = text_of(content, "\n\n")
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
