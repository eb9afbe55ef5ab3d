"""What schemathesis needs beyond the spec; shared by the in-process contract test
(tests/test_contract.py) and ``make fuzz`` (``specgate.fuzz.run``, the schemathesis CLI).

* ``schemathesis_spec(document)``: the bundled spec as schemathesis should read it. OpenAPI 3.0 has no
  ``contentMediaType``/``contentSchema``, so spec/ spells them ``x-contentMediaType`` and
  ``x-contentSchema`` (connexion and openapi-spec-validator reject the bare keywords). Renamed
  here, schemathesis parses the ``data`` of every Server-Sent Event and validates it too.
* ``keep_case(case)``: the ``filter_case`` hook. A positive (schema-valid) case that breaks a
  cross-field rule (``specgate.contract.rules``, the same functions the gateway enforces) or asks
  the echo provider for what it documents it cannot do (``providers.echo.refusal``) would get a
  400, so it is dropped instead of being called a false rejection.

This module imports nothing from schemathesis: the hooks live in ``specgate.fuzz.hooks`` (for the
CLI) and tests/test_contract.py (for pytest), both calling ``keep_case``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from providers.echo import refusal
from specgate.contract.rules import page_violation, violation

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


def keep_case(case: Any) -> bool:
    """schemathesis ``filter_case``: drop positive cases that break a cross-field rule.

    Negative cases (deliberately invalid) are always kept: the gateway must reject them.
    """
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return True
    if page_violation(dict(case.query or {})) is not None:
        return False
    if not isinstance(case.body, Mapping):
        return True
    if violation(case.body, dict(case.headers or {})) is not None:
        return False
    return "requests" in case.body or refusal(case.body) is None
