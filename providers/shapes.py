"""Complete response shapes: every key the official types declare, ``null`` or zero where empty.

The official SDKs' response types are the anchor (Python ``anthropic.types``: ``Message``,
``Usage``, ``MessageDeltaUsage``, ``RawMessageDeltaEvent.Delta``, ``TextBlock``,
``ToolUseBlock``; the TypeScript declarations mark ``Message.container``, ``stop_details``,
``diagnostics`` and every ``Usage`` key as always present, nullable). A response the gateway
builds itself carries each of those keys and no other; ``tests/test_sdk_responses.py`` checks
these functions against the installed SDK, so a new SDK field shows up there by name.

Pure functions, for every provider that builds Anthropic objects itself (echo, the async-job
placeholder, the OpenAI translation): ``message``/``usage`` build a new one,
``complete_message``/``complete_usage``/``complete_block`` fill in the keys a partial object
lacks (never overwriting a value), ``delta_usage``/``message_delta`` give the ``message_delta``
event of a finished Message. A relayed upstream answer (``anthropic`` provider) is not reshaped.
"""

from __future__ import annotations

from typing import Any

from specgate.core.types import Json

MESSAGE_KEYS = (
    "id",
    "type",
    "role",
    "model",
    "content",
    "stop_reason",
    "stop_sequence",
    "stop_details",
    "container",
    "diagnostics",
    "usage",
)
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "server_tool_use",
    "service_tier",
    "inference_geo",
    "output_tokens_details",
    "speed",
)
DELTA_USAGE_KEYS = (  # MessageDeltaUsage: no service_tier, cache_creation, inference_geo or speed
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens_details",
    "server_tool_use",
)
DELTA_KEYS = ("stop_reason", "stop_sequence", "stop_details", "container")  # RawMessageDeltaEvent.Delta

DIRECT_CALLER: Json = {"type": "direct"}


def no_server_tools() -> Json:
    """``usage.server_tool_use`` of an answer that ran no server tool."""
    return {"web_search_requests": 0, "web_fetch_requests": 0}


def usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    thinking_tokens: int | None = None,
    service_tier: str | None = "standard",
) -> Json:
    """A complete ``Usage`` of an answer produced without caches or server tools.

    ``thinking_tokens`` (part of ``output_tokens``) fills ``output_tokens_details`` when known;
    ``inference_geo`` and ``speed`` are upstream properties, ``null`` here."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_creation_input_tokens,
        "cache_read_input_tokens": cache_read_input_tokens,
        "cache_creation": _cache_creation(cache_creation_input_tokens),
        "server_tool_use": no_server_tools(),
        "service_tier": service_tier,
        "inference_geo": None,
        "output_tokens_details": None if thinking_tokens is None else {"thinking_tokens": thinking_tokens},
        "speed": None,
    }


def _cache_creation(cache_creation_input_tokens: Any) -> Json | None:
    # With no cache writes the split by TTL is known (all zero); otherwise it is not ours to guess.
    if cache_creation_input_tokens == 0:
        return {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    return None


def complete_usage(partial: Json) -> Json:
    """``partial`` with every ``Usage`` key (missing counts 0, missing details ``null``)."""
    out = dict(partial)
    out.setdefault("input_tokens", 0)
    out.setdefault("output_tokens", 0)
    out.setdefault("cache_creation_input_tokens", 0)
    out.setdefault("cache_read_input_tokens", 0)
    out.setdefault("cache_creation", _cache_creation(out["cache_creation_input_tokens"]))
    for key in ("server_tool_use", "service_tier", "inference_geo", "output_tokens_details", "speed"):
        out.setdefault(key, None)
    return out


def complete_block(block: Json) -> Json:
    """A response content block with the keys its type declares always present."""
    out = dict(block)
    kind = out.get("type")
    if kind == "text":
        out.setdefault("citations", None)
    elif kind in ("tool_use", "server_tool_use"):
        out.setdefault("caller", dict(DIRECT_CALLER))
        if kind == "tool_use":
            out.setdefault("toolset_name", None)
    return out


def message(
    *,
    id: str,
    model: str,
    content: list[Json],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: Json,
    stop_details: Json | None = None,
    container: Json | None = None,
) -> Json:
    """A complete ``Message``; ``content`` blocks and ``usage`` are completed too."""
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [complete_block(b) for b in content],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": stop_details,
        "container": container,
        "diagnostics": None,
        "usage": complete_usage(usage),
    }


def complete_message(partial: Json) -> Json:
    """``partial`` (a Message some keys may lack) with every ``Message`` key; values kept."""
    out = {"type": "message", "role": "assistant", **partial}
    for key in ("stop_reason", "stop_sequence", "stop_details", "container", "diagnostics"):
        out.setdefault(key, None)
    out["content"] = [complete_block(b) for b in out.get("content") or []]
    out["usage"] = complete_usage(out.get("usage") or {})
    return out


def delta_usage(message_usage: Json) -> Json:
    """The ``message_delta`` usage (``MessageDeltaUsage``) of a message's cumulative ``usage``."""
    full = complete_usage(message_usage)
    return {key: full[key] for key in DELTA_USAGE_KEYS}


def message_delta(finished: Json) -> Json:
    """The ``message_delta`` event data that ends the stream of the ``finished`` Message."""
    return {
        "type": "message_delta",
        "delta": {key: finished.get(key) for key in DELTA_KEYS},
        "usage": delta_usage(finished.get("usage") or {}),
    }


# The beta namespace's types (``BetaMessage``, ``BetaUsage``, ``BetaRawMessageDeltaEvent``,
# ``BetaMessageTokensCount``) declare a few keys more than the GA ones.
BETA_MESSAGE_KEYS = ("context_management", "input_transformations")
BETA_USAGE_KEYS = ("fallback_credit", "iterations")


def _with_beta_usage(usage_: Json) -> Json:
    out = dict(usage_)
    for key in BETA_USAGE_KEYS:
        out.setdefault(key, None)
    return out


def beta_message(message_: Json) -> Json:
    """A complete ``Message`` as the beta namespace's ``BetaMessage`` (its extra keys ``null``)."""
    out = dict(message_)
    for key in BETA_MESSAGE_KEYS:
        out.setdefault(key, None)
    out["usage"] = _with_beta_usage(out.get("usage") or {})
    return out


def beta_event(data: Json) -> Json:
    """A stream event's data in its beta shape (only ``message_start`` and ``message_delta`` differ)."""
    kind = data.get("type")
    if kind == "message_start":
        return {**data, "message": beta_message(data.get("message") or {})}
    if kind == "message_delta":
        out = {**data, "usage": _with_beta_usage(data.get("usage") or {})}
        for key in BETA_MESSAGE_KEYS:
            out.setdefault(key, None)
        return out
    if kind == "content_block_delta" and (data.get("delta") or {}).get("type") == "thinking_delta":
        return {**data, "delta": {"estimated_tokens": None, **data["delta"]}}  # BetaThinkingDelta
    return data


def beta_token_count(data: Json) -> Json:
    return {**data, "context_management": data.get("context_management")}
