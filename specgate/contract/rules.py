"""The cross-field rules: what the real API refuses with a 400 that no JSON Schema in spec/ can say.

Declared here once. The gateway enforces them (``check_message`` in the Messages, count_tokens and
batch handlers, ``check_batch``, ``check_page`` in pagination, ``check_async`` for background
jobs), and the fuzzers read the same functions (``violation``, ``page_violation``: the
schemathesis ``filter_case`` hook of ``specgate.fuzz`` drops a schema-valid case that breaks one,
instead of calling its 400 a false rejection). Each ``*_violation`` returns the error message
the gateway answers, or None; the bodies may be any JSON (the fuzzers' are arbitrary), so every
rule checks the types it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from specgate.core.errors import InvalidRequestError

DEFAULT_VERSION = "2023-06-01"
STRICT_VERSION = "2026-10-21"  # rejects the sampling parameters
API_VERSIONS = (DEFAULT_VERSION, STRICT_VERSION)  # the AnthropicVersion enum of spec/components.yaml
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
ASYNC_HEADER = "x-bf-async"
ASYNC_ID_HEADER = "x-bf-async-id"


def message_violation(body: Mapping[str, Any], version: str) -> str | None:
    """A Messages (or count_tokens) body under ``anthropic-version: version``."""
    if version == STRICT_VERSION:
        for name in SAMPLING_PARAMS:
            if name in body:
                return f"{name}: Extra inputs are not permitted"
    thinking = body.get("thinking")
    max_tokens = body.get("max_tokens")  # absent for count_tokens
    if isinstance(thinking, Mapping) and thinking.get("type") == "enabled" and isinstance(max_tokens, int):
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget >= max_tokens:
            return "thinking.budget_tokens: must be less than max_tokens"
    return None


def batch_violation(body: Mapping[str, Any]) -> str | None:
    """A Message Batches create body: each ``custom_id`` once."""
    requests = body.get("requests")
    seen: set[Any] = set()
    for index, item in enumerate(requests if isinstance(requests, list) else ()):
        custom_id = item.get("custom_id") if isinstance(item, Mapping) else None
        if custom_id in seen:
            return f"requests.{index}.custom_id: {custom_id!r} is used more than once; custom_id must be unique"
        seen.add(custom_id)
    return None


def async_violation(body: Mapping[str, Any]) -> str | None:
    """A Messages body submitted as a background job (``x-bf-async``)."""
    if body.get("stream") is True:
        return f"stream: streaming is not supported with {ASYNC_HEADER}"
    return None


def page_violation(query: Mapping[str, Any]) -> str | None:
    """The query of a paginated list."""
    if query.get("before_id") and query.get("after_id"):
        return "before_id: cannot be combined with after_id"
    return None


def violation(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """Any rule a request body with these headers breaks: the fuzzers' single question."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "requests" in body:
        return batch_violation(body)
    found = message_violation(body, lowered.get("anthropic-version") or DEFAULT_VERSION)
    if found is None and lowered.get(ASYNC_HEADER) is not None and ASYNC_ID_HEADER not in lowered:
        found = async_violation(body)
    return found


def _raise(found: str | None) -> None:
    if found is not None:
        raise InvalidRequestError(found)


def check_message(body: Mapping[str, Any], version: str) -> None:
    _raise(message_violation(body, version))


def check_batch(body: Mapping[str, Any]) -> None:
    _raise(batch_violation(body))


def check_async(body: Mapping[str, Any]) -> None:
    _raise(async_violation(body))


def check_page(query: Mapping[str, Any]) -> None:
    _raise(page_violation(query))
