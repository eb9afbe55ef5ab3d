"""The gateway's documented approximate token count, used by the echo provider and for local
``count_tokens`` estimates when a provider cannot count.

One token = one run of non-space characters together with the whitespace after it, or a leading
run of whitespace (``split_tokens`` joins back to the exact text). It is deliberately simple and
deterministic; it is not any model's tokenizer. Non-text content counts as a fixed cost: an image
or document block counts ``MEDIA_BLOCK_TOKENS``.
"""

from __future__ import annotations

import re
from typing import Any

from specgate.core import deepjson

_TOKEN_RE = re.compile(r"\s*\S+\s*|\s+")
MEDIA_BLOCK_TOKENS = 256
MESSAGE_OVERHEAD_TOKENS = 3  # per message: role and separators


def split_tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def count_text(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def _count_block(block: Any) -> int:
    if isinstance(block, str):
        return count_text(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return count_text(str(block.get("text", "")))
    if kind in ("image", "document"):
        source = block.get("source") or {}
        if isinstance(source, dict) and source.get("type") == "text":
            return count_text(str(source.get("data", "")))
        return MEDIA_BLOCK_TOKENS
    if kind == "thinking":
        return count_text(str(block.get("thinking", "")))
    if kind == "tool_use":
        return count_text(str(block.get("name", ""))) + count_text(deepjson.dumps(block.get("input", {})).decode())
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return 1 + sum(_count_block(b) for b in content)
        return 1 + count_text(str(content or ""))
    if kind == "search_result":
        return count_text(str(block.get("title", ""))) + sum(_count_block(b) for b in block.get("content", []))
    return count_text(deepjson.dumps(block).decode())


def estimate_input_tokens(request: dict[str, Any]) -> int:
    """Approximate input tokens of a Messages request: system, tools and every content block."""
    total = 0
    system = request.get("system")
    if isinstance(system, str):
        total += count_text(system)
    elif isinstance(system, list):
        total += sum(_count_block(b) for b in system)
    for tool in request.get("tools") or []:
        total += count_text(deepjson.dumps(tool).decode())
    for message in request.get("messages") or []:
        total += MESSAGE_OVERHEAD_TOKENS
        content = message.get("content")
        if isinstance(content, str):
            total += count_text(content)
        elif isinstance(content, list):
            total += sum(_count_block(b) for b in content)
    return max(total, 1)
