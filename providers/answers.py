"""What an upstream answered, read the same way for every provider: its own request id (for
``x-specgate-upstream-request-id``) and a body that must be a JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.faults import Malformed, map_fault
from specgate.core.responses import UPSTREAM_REQUEST_ID_HEADER, header_safe

_REQUEST_ID_NAMES = ("request-id", "x-request-id", "x-amzn-requestid")


def upstream_request_id(headers: Mapping[str, str]) -> str | None:
    """The upstream's own request id (Anthropic ``request-id``, OpenAI ``x-request-id``,
    Bedrock ``x-amzn-RequestId``), if it is a short printable-ASCII token that is safe to repeat
    in a response header."""
    for name in _REQUEST_ID_NAMES:
        value = headers.get(name)
        if value and header_safe(value):
            return value
    return None


def note_upstream(ctx_headers: dict[str, str], headers: Mapping[str, str]) -> None:
    """Record the upstream request id for the client's response headers."""
    rid = upstream_request_id(headers)
    if rid is not None:
        ctx_headers[UPSTREAM_REQUEST_ID_HEADER] = rid


def load_json_object(raw: bytes, what: str, *, provider: str, request_id: str | None) -> dict[str, Any]:
    """Parse an upstream body that must be a JSON object; anything else is an ApiError naming the
    provider (the body itself goes to the log only)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
        reason = "not JSON"
    else:
        reason = "not a JSON object"
    if isinstance(value, dict):
        return value
    fault = map_fault(provider, Malformed(what, raw, reason))
    fault.log(request_id)
    raise fault.error
