"""OpenAI ``chat.completion`` -> complete Anthropic Message (``from_chat_response``), and the
pieces the stream translation shares with it: tool-call arguments, usage, stop reason and
service tier mapping, message ids, reasoning text."""

from __future__ import annotations

from typing import Any

import orjson

from providers import shapes
from providers.openai.translate.common import dumps, estimate_tokens, random_id, text_of
from specgate.core.errors import ApiError
from specgate.core.types import Json

_FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

_SERVICE_TIERS: dict[str, str] = {"default": "standard", "priority": "priority"}


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


def reasoning_text(holder: Json) -> str:
    """A message's or delta's reasoning text (``reasoning_content`` or ``reasoning``; "" if none)."""
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
    if reasoning := reasoning_text(message):
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = text_of(text, "")
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
    out_text = "".join(str(b.get("text") or b.get("thinking") or dumps(b.get("input", ""))) for b in content)
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
