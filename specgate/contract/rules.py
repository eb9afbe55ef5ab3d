"""What contract testing needs beyond the spec; shared by the in-process contract test
(tests/test_contract.py) and ``make fuzz`` (specgate/fuzz.py, the schemathesis CLI).

* ``schemathesis_spec(document)``: the bundled spec as schemathesis should read it. OpenAPI 3.0 has no
  ``contentMediaType``/``contentSchema``, so spec/ spells them ``x-contentMediaType`` and
  ``x-contentSchema`` (connexion and openapi-spec-validator reject the bare keywords). Renamed
  here, schemathesis parses the ``data`` of every Server-Sent Event and validates it too.
* ``acceptable(body, headers)``: the cross-field rules no JSON Schema can express. A positive
  (schema-valid) case that breaks one of them is a request the real API rejects with 400, so the
  schemathesis ``filter_case`` hook drops it instead of calling it a false rejection.

This module imports nothing from schemathesis: the hooks live in specgate/contract/hooks.py
(for the CLI) and tests/test_contract.py (for pytest), both calling ``keep_case``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# The operations whose body is the Messages request (generated from the SDK: ~200 block, tool and
# config types). schemathesis's coverage phase enumerates the boundary and negative values of
# every keyword of a body; over this schema it ran for more than 10 minutes on one operation
# without finishing. These operations get every other phase (examples, fuzzing, stateful), and
# tests/specgate/contract/apisurface/ enumerates each variant of that body (every union member, literal and
# optional field, and an unknown key in every strict object) instead.
MESSAGES_BODY_OPERATIONS = (
    r"(?i)^(anthropic|platformanthropic|platform)?(createmessage|counttokens|createmessagebatch)$"
)
CONTENT_KEYWORDS = {"x-contentMediaType": "contentMediaType", "x-contentSchema": "contentSchema"}
NEW_VERSION = "2026-10-21"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")


def schemathesis_spec(document: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a bundled spec with the SSE content keywords un-prefixed."""

    def rename(node: Any) -> Any:
        if isinstance(node, list):
            return [rename(v) for v in node]
        if isinstance(node, dict):
            return {CONTENT_KEYWORDS.get(k, k): rename(v) for k, v in node.items()}
        return copy.deepcopy(node)

    out: dict[str, Any] = rename(document)
    return out


def operations_config() -> list[dict[str, Any]]:
    """schemathesis ``[[operations]]`` settings shared by the pytest contract and ``make fuzz``."""
    return [{"include-operation-id-regex": MESSAGES_BODY_OPERATIONS, "phases": {"coverage": {"enabled": False}}}]


def rejection(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """Why the real API would reject this schema-valid request body, or None."""
    requests = body.get("requests")
    if isinstance(requests, list):  # a batch: custom_ids must be unique
        ids = [r.get("custom_id") for r in requests if isinstance(r, Mapping)]
        if len(ids) != len(set(ids)):
            return "requests[].custom_id must be unique within a batch"
    thinking = body.get("thinking")
    max_tokens = body.get("max_tokens")
    if isinstance(thinking, Mapping) and thinking.get("type") == "enabled" and isinstance(max_tokens, int):
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget >= max_tokens:
            return "thinking.budget_tokens must be less than max_tokens"
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, Mapping)}
        if choice.get("name") not in names:
            return "tool_choice.name must name one of the tools"
    lowered = {k.lower(): v for k, v in headers.items()}
    version = lowered.get("anthropic-version")
    if version == NEW_VERSION and any(k in body for k in SAMPLING_PARAMS):
        return f"{', '.join(SAMPLING_PARAMS)} are not accepted under anthropic-version {NEW_VERSION}"
    if lowered.get("x-bf-async") is not None and "x-bf-async-id" not in lowered and body.get("stream") is True:
        return "x-bf-async cannot be combined with stream: true"
    return None


def echo_rejection(body: Mapping[str, Any]) -> str | None:
    """Why the echo provider (every model of the contract and fuzz runs) refuses this valid body:
    what it documents it cannot honour (README, "What each provider does with each field")."""
    if body.get("compaction") is not None and "requests" not in body:
        return "compaction: the echo provider cannot produce a compaction block"
    return None


def query_rejection(query: Mapping[str, Any]) -> str | None:
    """Why the gateway rejects these schema-valid query parameters, or None."""
    if query.get("before_id") is not None and query.get("after_id") is not None:
        return "before_id and after_id cannot be combined"
    return None


def keep_case(case: Any) -> bool:
    """schemathesis ``filter_case``: drop positive cases that break a cross-field rule.

    Negative cases (deliberately invalid) are always kept: the gateway must reject them.
    """
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return True
    if query_rejection(dict(case.query or {})) is not None:
        return False
    if not isinstance(case.body, Mapping):
        return True
    return rejection(case.body, dict(case.headers or {})) is None and echo_rejection(case.body) is None
