"""What the request, response and stream translations share: JSON as text, generated ids, the
~4-characters-per-token estimate used when the upstream reports no usage, and the text that
content blocks contribute to a text-only message (Anthropic blocks on the way up; OpenAI's
``text`` parts, which read the same, on the way down)."""

from __future__ import annotations

import math
import secrets
from typing import Any

from specgate.core import deepjson
from specgate.core.types import Json


def dumps(value: Any) -> str:
    return deepjson.dumps(value).decode()


def random_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters per token) used when the upstream reports no usage."""
    return math.ceil(len(text) / 4)


def estimate_input_tokens(req: Json) -> int:
    parts = [req.get("system") or "", req.get("messages") or [], req.get("tools") or []]
    return max(1, estimate_tokens(dumps(parts)))


def block_text(block: Any) -> str | None:
    """The text a block contributes to a text-only message (None: it contributes nothing)."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "compaction" and isinstance(block.get("content"), str):
        return str(block["content"])  # the summary of the messages it replaces
    if kind == "search_result":
        return text_of(block.get("content"))
    if kind == "document":
        part = document_part(block)
        return str(part["text"]) if part is not None and part.get("type") == "text" else None
    return None


def text_of(content: Any, sep: str = "\n") -> str:
    if isinstance(content, str):
        return content
    return sep.join(t for t in map(block_text, content or []) if t is not None)


def document_part(block: Json) -> Json | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    if kind == "content":
        return {"type": "text", "text": text_of(source.get("content"))}
    if kind == "base64":
        data_url = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
        name = str(block.get("title") or "document.pdf")
        return {"type": "file", "file": {"filename": name, "file_data": data_url}}
    return None  # url and file sources: refused by policy.check
